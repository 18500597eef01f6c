//! The lessons' presets (`pipeline::lessons::LESSONS`): every step's live
//! run goes through the settings parser its lab's page uses and must come
//! out without a settings issue (an unknown key, a knob of another method,
//! a value out of range would each show a message on the lesson and run
//! something else than the text says), and must already be in the form the
//! page writes back, so mounting the lab does not rewrite the address.

use flt_explorer::pipeline::labs::LABS;
use flt_explorer::pipeline::lessons::{LESSONS, LESSONS_ROUTE};
use flt_explorer::settings::compare::CompareSettings;
use flt_explorer::settings::model_size::ModelSizeSettings;
use flt_explorer::settings::qat::QatSettings;
use flt_explorer::settings::quantization::{QuantSettings, SECTION_PREFIXES, Section};
use flt_explorer::settings::scaling::ScalingSettings;
use flt_explorer::settings::{Settings, SettingsIssue, parse_query};

/// What the page of `route` says about `query`: its issues, and the query
/// it would write back (`None` where the page keeps the address as given).
fn parse(route: &str, query: &str) -> (Vec<SettingsIssue>, Option<String>) {
    match route {
        "/attention" => {
            let (s, issues) = Settings::from_page_query(query);
            (issues, Some(s.to_query()))
        }
        "/compare" => {
            let (s, issues) = CompareSettings::from_page_query(query);
            (issues, Some(s.to_query()))
        }
        "/scaling" => {
            let (s, issues) = ScalingSettings::from_query(query);
            (issues, Some(s.to_query()))
        }
        "/compression/model-size" => {
            let (s, issues) = ModelSizeSettings::from_query(query);
            (issues, Some(s.to_query()))
        }
        "/compression/quantization" => {
            // The weight quantizer's unprefixed keys, and QAT's; the
            // quantized-attention and int8 sections fill defaults in the
            // page, so a preset leaves them alone.
            let (_, mut issues) = QuantSettings::from_pairs(Section::Weights.pairs(query));
            issues.extend(QatSettings::from_query(query).1);
            for (key, _) in parse_query(query) {
                if ["qa-", "int8-"].iter().any(|p| key.starts_with(p)) {
                    issues.push(SettingsIssue {
                        key: key.clone(),
                        problem: format!("{key}: a lesson presets only the weights and QAT"),
                        fallback: "ignored".into(),
                    });
                }
            }
            assert_eq!(
                SECTION_PREFIXES.len(),
                3,
                "a new section: say how it parses"
            );
            (issues, None)
        }
        other => panic!("no settings parser for the route {other}"),
    }
}

#[test]
fn every_preset_parses_without_a_settings_issue() {
    for lesson in LESSONS {
        assert!(
            LABS.iter().any(|lab| lab.route == lesson.route),
            "{}: {} is not a lab's route",
            lesson.key,
            lesson.route
        );
        assert_ne!(lesson.route, LESSONS_ROUTE);
        let (issues, written) = parse(lesson.route, lesson.query);
        assert!(
            issues.is_empty(),
            "{} ({}): {issues:?}",
            lesson.key,
            lesson.preset()
        );
        if let Some(written) = written {
            // Same pairs, maybe in another order: the page keeps them.
            let mut given = parse_query(lesson.query);
            let mut back = parse_query(&written);
            given.sort();
            back.sort();
            assert!(
                given.iter().all(|pair| back.contains(pair)),
                "{}: the page would rewrite {} as {written}",
                lesson.key,
                lesson.query
            );
        }
    }
}

#[test]
fn a_bad_preset_would_be_caught() {
    // The check above has power: each route's parser flags a misspelt key,
    // a knob of another method and a value out of range.
    for (route, query) in [
        ("/attention", "method=full&n=128&windw=8"),
        ("/attention", "method=full&n=128&window=8"),
        ("/attention", "method=full&n=0"),
        ("/compare", "n=64&d=8&methd=full"),
        ("/scaling", "methods=full,bogus&d=16"),
        ("/compression/model-size", "model=bert-huge"),
        ("/compression/quantization", "bits=99&rows=64"),
        ("/compression/quantization", "bits=4&qa-n=64"),
        ("/compression/quantization", "qat-epochs=x"),
    ] {
        let (issues, _) = parse(route, query);
        assert!(!issues.is_empty(), "{route}?{query} raised no issue");
    }
}
