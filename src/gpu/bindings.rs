//! Typed bindings: every compute entry point is a [`Kernel`] that names the
//! bindings it uses — their index, name and access exactly as the `.wgsl`
//! declares them (a test checks each against the shader text) — so a bind
//! group is built from named buffers, never from a positional list, and an
//! entry point gets a layout of only the bindings it uses (no dummy buffers).

use super::{GpuContext, GpuError};

/// How a kernel accesses a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `var<uniform>`.
    Uniform,
    /// `var<storage, read>`.
    Read,
    /// `var<storage, read_write>`.
    ReadWrite,
}

/// One `@group(0) @binding(index) var<…> name` of a shader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// The variable's name in the shader.
    pub name: &'static str,
    /// Its binding index.
    pub index: u32,
    /// Its access mode.
    pub access: Access,
    /// The smallest buffer it accepts, in bytes (storage: one element; 4
    /// unless the shader's elements are larger, e.g. 16 for `vec4`s).
    pub min_size: u64,
}

impl Binding {
    /// A uniform binding.
    pub const fn uniform(name: &'static str, index: u32) -> Binding {
        Binding {
            name,
            index,
            access: Access::Uniform,
            min_size: 4,
        }
    }

    /// A read-only storage binding.
    pub const fn read(name: &'static str, index: u32) -> Binding {
        Binding {
            name,
            index,
            access: Access::Read,
            min_size: 4,
        }
    }

    /// The same binding with elements of `bytes` (e.g. 16 for `vec4<u32>`).
    pub const fn elements_of(self, bytes: u64) -> Binding {
        Binding {
            min_size: bytes,
            ..self
        }
    }

    /// A read-write storage binding.
    pub const fn write(name: &'static str, index: u32) -> Binding {
        Binding {
            name,
            index,
            access: Access::ReadWrite,
            min_size: 4,
        }
    }
}

/// A shader module: its name and source.
#[derive(Clone, Copy)]
pub struct Module {
    /// Name (the `.wgsl` file's stem), for caches and messages.
    pub name: &'static str,
    /// The WGSL source, compiled on first use.
    pub source: fn() -> wgpu::ShaderModuleDescriptor<'static>,
    /// The WGSL text, for the tests that check bindings and codes.
    pub text: &'static str,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// One compute entry point of a module and the bindings it uses.
#[derive(Debug, Clone, Copy)]
pub struct Kernel {
    /// The module.
    pub module: Module,
    /// The entry point's function name.
    pub entry: &'static str,
    /// The bindings it uses.
    pub bindings: &'static [Binding],
}

impl Kernel {
    /// `module.entry`, for labels and caches.
    pub fn id(&self) -> String {
        format!("{}.{}", self.module.name, self.entry)
    }

    /// The compute pipeline with these override `constants`, built once per
    /// distinct constants and cached on the context.
    pub async fn pipeline(
        &self,
        ctx: &GpuContext,
        constants: &[(&str, f64)],
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        let (_, layout) = ctx.layout(self);
        ctx.pipeline(
            self.module.name,
            self.module.source,
            &layout,
            self.entry,
            constants,
        )
        .await
    }

    /// As [`Self::pipeline`], the module compiled without wgpu's runtime
    /// checks (index clamps, loop bounding) and its workgroup memory not
    /// zeroed.
    ///
    /// # Safety
    /// Every index the entry point computes into its bindings and workgroup
    /// arrays must be in bounds for the buffers the caller binds and the
    /// override `constants` it passes, every loop must end, and every
    /// workgroup value it reads it must have written first.
    pub async unsafe fn pipeline_trusted(
        &self,
        ctx: &GpuContext,
        constants: &[(&str, f64)],
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        let (_, layout) = ctx.layout(self);
        // SAFETY: passed on to our caller.
        unsafe {
            ctx.pipeline_with(
                self.module.name,
                self.module.source,
                &layout,
                self.entry,
                constants,
                true,
            )
            .await
        }
    }

    /// The bind group of `buffers` given by name; every binding the kernel
    /// uses must be given (others are ignored).
    pub fn bind(
        &self,
        ctx: &GpuContext,
        label: &str,
        buffers: &[(&str, &wgpu::Buffer)],
    ) -> Result<wgpu::BindGroup, GpuError> {
        let (group_layout, _) = ctx.layout(self);
        let mut entries = Vec::with_capacity(self.bindings.len());
        for b in self.bindings {
            let Some((_, buffer)) = buffers.iter().find(|(name, _)| *name == b.name) else {
                return Err(GpuError::Device {
                    stage: format!("binding {}", self.id()),
                    message: format!("no buffer given for `{}`", b.name),
                });
            };
            entries.push(wgpu::BindGroupEntry {
                binding: b.index,
                resource: buffer.as_entire_binding(),
            });
        }
        Ok(ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &group_layout,
            entries: &entries,
        }))
    }

    /// The bind-group layout entries of its bindings.
    pub fn layout_entries(&self) -> Vec<wgpu::BindGroupLayoutEntry> {
        self.bindings
            .iter()
            .map(|b| wgpu::BindGroupLayoutEntry {
                binding: b.index,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match b.access {
                        Access::Uniform => wgpu::BufferBindingType::Uniform,
                        Access::Read => wgpu::BufferBindingType::Storage { read_only: true },
                        Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                    },
                    has_dynamic_offset: false,
                    min_binding_size: match b.access {
                        Access::Uniform => None,
                        _ => wgpu::BufferSize::new(b.min_size),
                    },
                },
                count: None,
            })
            .collect()
    }
}

/// The `@group(0) @binding(N) var<…> name` declarations of a WGSL text, as
/// (index, name, access).
pub fn declared_bindings(wgsl: &str) -> Vec<(u32, String, Access)> {
    let mut out = Vec::new();
    for line in wgsl.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("@group(0) @binding(") else {
            continue;
        };
        let Some((index, rest)) = rest.split_once(')') else {
            continue;
        };
        let access = if rest.contains("var<uniform>") {
            Access::Uniform
        } else if rest.contains("read_write>") {
            Access::ReadWrite
        } else {
            Access::Read
        };
        let name = rest
            .split('>')
            .nth(1)
            .and_then(|s| s.split(':').next())
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if let Ok(index) = index.parse() {
            out.push((index, name, access));
        }
    }
    out
}

/// Whether the WGSL text declares a compute entry point `entry`.
pub fn declares_entry(wgsl: &str, entry: &str) -> bool {
    let mut lines = wgsl.lines().map(str::trim).peekable();
    while let Some(line) = lines.next() {
        if line.starts_with("@compute")
            && let Some(next) = lines.peek()
            && next.starts_with(&format!("fn {entry}("))
        {
            return true;
        }
    }
    false
}

/// The `const NAME: u32 = Nu;` declarations of a WGSL text.
pub fn declared_constants(wgsl: &str) -> Vec<(String, u32)> {
    wgsl.lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("const ")?;
            let (name, value) = rest.split_once(": u32 =")?;
            let value = value.trim().trim_end_matches(';').trim_end_matches('u');
            let value = if let Some(hex) = value.strip_prefix("0x") {
                u32::from_str_radix(hex, 16).ok()?
            } else {
                value.parse().ok()?
            };
            Some((name.trim().to_string(), value))
        })
        .collect()
}

/// The WGSL text without `//` comments.
fn strip_comments(wgsl: &str) -> String {
    wgsl.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The body of every `fn name(...) { ... }` of a WGSL text.
fn function_bodies(code: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("fn ") {
        let after = &rest[at + 3..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let Some(open) = after.find('{') else { break };
        let mut depth = 0;
        let mut end = open;
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push((name, after[open..=end].to_string()));
        rest = &after[end..];
    }
    out
}

fn mentions(body: &str, word: &str) -> bool {
    body.match_indices(word).any(|(i, _)| {
        let before = body[..i].chars().next_back();
        let after = body[i + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

/// The bindings an entry point uses, directly or through the functions it
/// calls, by name, sorted by index: what its layout must hold.
pub fn used_bindings(wgsl: &str, entry: &str) -> Vec<String> {
    let code = strip_comments(wgsl);
    let bodies = function_bodies(&code);
    let declared = declared_bindings(wgsl);
    let mut seen: Vec<String> = Vec::new();
    let mut stack = vec![entry.to_string()];
    let mut used: Vec<(u32, String)> = Vec::new();
    while let Some(f) = stack.pop() {
        if seen.contains(&f) {
            continue;
        }
        seen.push(f.clone());
        let Some((_, body)) = bodies.iter().find(|(name, _)| *name == f) else {
            continue;
        };
        for (index, name, _) in &declared {
            if mentions(body, name) && !used.iter().any(|(_, n)| n == name) {
                used.push((*index, name.clone()));
            }
        }
        for (callee, _) in &bodies {
            if *callee != f && body.contains(&format!("{callee}(")) && mentions(body, callee) {
                stack.push(callee.clone());
            }
        }
    }
    used.sort();
    used.into_iter().map(|(_, n)| n).collect()
}
