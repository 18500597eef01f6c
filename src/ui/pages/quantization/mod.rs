//! The quantization lab (`/compression/quantization`): post-training
//! quantization of a weight matrix ([`ptq`]), quantized attention
//! ([`qattention`]), the int8 matrix product ([`int8`]) and QAT against PTQ
//! ([`qat`]). The URL query holds every section's settings, each section
//! its own keys ([`url`]).

mod int8;
mod ptq;
mod qat;
mod qattention;
mod sweep;
mod url;
mod views;

use leptos::prelude::*;

/// The page.
#[component]
pub fn QuantizationPage() -> impl IntoView {
    view! {
        <main class="lab" data-testid="quantization-page">
            <ptq::PtqSection/>
            <qattention::QuantizedAttentionSection/>
            <int8::Int8Section/>
            <qat::QatSection/>
        </main>
    }
}
