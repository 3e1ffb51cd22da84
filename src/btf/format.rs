//! Renders BTF types as C text (`struct task_struct *`, prototypes with
//! parameter names) and reduces them to a [`Shape`] for compatibility checks.
//!
//! Every walk is bounded three ways, so hostile BTF cannot exhaust time or
//! memory: chains deeper than [`MAX_CHAIN`] and function prototypes that
//! refer back to themselves render as `<loop>`; past [`MAX_TYPE_NODES`] types
//! visited or [`MAX_RENDERED_BYTES`] of names, the rest renders as
//! `<too complex>`. A prototype whose return type and parameters are itself
//! would otherwise build a tree of 2^64 nodes. Real kernel prototypes visit
//! a few dozen types and render to a few hundred bytes.

use std::fmt::Write as _;

use super::{Btf, Kind, MAX_CHAIN, Type};

/// Most types one rendering or [`Shape`] visits; past it the rest is
/// `<too complex>`.
pub const MAX_TYPE_NODES: usize = 4096;
/// Most bytes of names one rendering or [`Shape`] holds; past it the rest
/// is `<too complex>`.
pub const MAX_RENDERED_BYTES: usize = 256 << 10;

/// What a walk prints where it stops at a loop.
const LOOP: &str = "<loop>";
/// What a walk prints where it runs out of budget.
const TOO_COMPLEX: &str = "<too complex>";

/// The structure of a type as libbpf compares kfunc prototypes: typedefs and
/// qualifiers are skipped, integers compare by kind only, aggregates by name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shape {
    Void,
    Int {
        bytes: u32,
        signed: bool,
    },
    Float {
        bytes: u32,
    },
    Enum {
        bytes: u32,
    },
    Ptr {
        to: Box<Shape>,
    },
    Array {
        of: Box<Shape>,
        len: u32,
    },
    Struct {
        name: String,
    },
    Union {
        name: String,
    },
    Func {
        ret: Box<Shape>,
        params: Vec<Shape>,
    },
    /// A forward declaration, or a chain that could not be followed.
    Opaque {
        name: String,
    },
}

/// Renders types of one BTF blob as C.
#[derive(Debug, Clone, Copy)]
pub struct TypeFormatter<'b, 'a> {
    btf: &'b Btf<'a>,
}

impl<'b, 'a> TypeFormatter<'b, 'a> {
    #[must_use]
    pub fn new(btf: &'b Btf<'a>) -> Self {
        TypeFormatter { btf }
    }

    /// C spelling of type `id`, e.g. `const struct cpumask *`.
    #[must_use]
    pub fn type_name(self, id: u32) -> String {
        self.walk().declarator(id, String::new(), 0)
    }

    /// `ret name(type arg, ...)` for a FUNC or `FUNC_PROTO` type.
    #[must_use]
    pub fn prototype(self, name: &str, func_or_proto: u32) -> String {
        let Some(ty) = self.btf.get(func_or_proto) else {
            return format!("{name}(<bad type #{func_or_proto}>)");
        };
        let proto_id = if ty.kind == Kind::Func {
            ty.size_or_type
        } else {
            func_or_proto
        };
        self.walk().declarator(proto_id, name.to_string(), 0)
    }

    /// The [`Shape`] of type `id`.
    #[must_use]
    pub fn shape(self, id: u32) -> Shape {
        self.walk().shape_at(id, 0)
    }

    fn walk(self) -> Walk<'b, 'a> {
        Walk {
            btf: self.btf,
            open_protos: Vec::new(),
            nodes_left: MAX_TYPE_NODES,
            bytes_left: MAX_RENDERED_BYTES,
        }
    }
}

/// One bounded walk over the types reachable from one id.
struct Walk<'b, 'a> {
    btf: &'b Btf<'a>,
    /// Function prototypes being expanded: meeting one again is a loop.
    open_protos: Vec<u32>,
    nodes_left: usize,
    bytes_left: usize,
}

impl<'a> Walk<'_, 'a> {
    /// Charges one visited type; false once the budget is spent.
    fn visit(&mut self) -> bool {
        self.nodes_left = self.nodes_left.saturating_sub(1);
        !self.exhausted()
    }

    /// True once the node or byte budget is spent.
    fn exhausted(&self) -> bool {
        self.nodes_left == 0 || self.bytes_left == 0
    }

    /// Charges `text` against the byte budget; false once it is spent.
    fn spend(&mut self, text: &str) -> bool {
        if let Some(left) = self.bytes_left.checked_sub(text.len()) {
            self.bytes_left = left;
            true
        } else {
            self.bytes_left = 0;
            false
        }
    }

    /// The name of `ty`, or `<too complex>` once the byte budget is spent.
    fn name_of(&mut self, ty: &Type<'_>) -> &'a str {
        let name = self.btf.name(ty);
        if self.spend(name) { name } else { TOO_COMPLEX }
    }

    /// Renders `id` applied to the declarator text `inner` (C's inside-out syntax).
    ///
    /// `inner` is taken by value and grown in place where C appends to it, so
    /// rendering a prototype allocates a handful of strings, not one per hop.
    fn declarator(&mut self, id: u32, inner: String, depth: usize) -> String {
        if depth > MAX_CHAIN {
            return join(&[LOOP], &inner);
        }
        if !self.visit() {
            return join(&[TOO_COMPLEX], &inner);
        }
        let Some(ty) = self.btf.get(id) else {
            return join(&[&format!("<bad type #{id}>")], &inner);
        };
        match ty.kind {
            Kind::Void => join(&["void"], &inner),
            Kind::Int | Kind::Float | Kind::Typedef => join(&[self.name_of(&ty)], &inner),
            Kind::Struct => join(&tagged("struct", self.name_of(&ty)), &inner),
            Kind::Union => join(&tagged("union", self.name_of(&ty)), &inner),
            Kind::Enum | Kind::Enum64 => join(&tagged("enum", self.name_of(&ty)), &inner),
            Kind::Fwd => {
                let tag = if ty.kind_flag() { "union" } else { "struct" };
                join(&tagged(tag, self.name_of(&ty)), &inner)
            }
            Kind::Ptr => self.pointer(&ty, &inner, depth),
            Kind::Const | Kind::Volatile | Kind::Restrict => self.qualified(&ty, inner, depth),
            Kind::TypeTag => self.declarator(ty.size_or_type, inner, depth + 1),
            Kind::Array => {
                let (elem, _, n) = ty.array().unwrap_or_default();
                let mut inner = inner;
                // Writing to a String cannot fail.
                let _ = write!(inner, "[{n}]");
                self.declarator(elem, inner, depth + 1)
            }
            Kind::FuncProto if self.open_protos.contains(&id) => join(&[LOOP], &inner),
            Kind::FuncProto => {
                self.open_protos.push(id);
                let out = self.function(&ty, inner, depth);
                self.open_protos.pop();
                out
            }
            Kind::Func | Kind::Var | Kind::DeclTag | Kind::Datasec => {
                self.declarator(ty.size_or_type, inner, depth + 1)
            }
        }
    }

    fn pointer(&mut self, ty: &Type<'_>, inner: &str, depth: usize) -> String {
        let pointee = self.btf.get(ty.size_or_type).map(|t| t.kind);
        let inner = if matches!(pointee, Some(Kind::FuncProto | Kind::Array)) {
            concat(&["(*", inner, ")"])
        } else {
            concat(&["*", inner])
        };
        self.declarator(ty.size_or_type, inner, depth + 1)
    }

    fn qualified(&mut self, ty: &Type<'_>, inner: String, depth: usize) -> String {
        let word = match ty.kind {
            Kind::Const => "const",
            Kind::Volatile => "volatile",
            _ => "restrict",
        };
        let target = self.btf.get(ty.size_or_type).map(|t| t.kind);
        if matches!(target, Some(Kind::Ptr)) {
            // `char *const p`: the qualifier binds to the pointer.
            self.declarator(ty.size_or_type, concat(&[word, " ", &inner]), depth + 1)
        } else {
            let rendered = self.declarator(ty.size_or_type, inner, depth + 1);
            concat(&[word, " ", &rendered])
        }
    }

    fn function(&mut self, ty: &Type<'_>, inner: String, depth: usize) -> String {
        let mut out = inner;
        out.push('(');
        let mut any = false;
        for p in ty.params() {
            if any {
                out.push_str(", ");
            }
            any = true;
            if self.exhausted() {
                out.push_str(TOO_COMPLEX);
                break;
            }
            if p.type_id == 0 {
                out.push_str("...");
                continue;
            }
            let pname = self.btf.str_at(p.name_off);
            let pname = if self.spend(pname) {
                pname
            } else {
                TOO_COMPLEX
            };
            let param = self.declarator(p.type_id, pname.to_string(), depth + 1);
            out.push_str(&param);
        }
        if !any {
            out.push_str("void");
        }
        out.push(')');
        self.declarator(ty.size_or_type, out, depth + 1)
    }

    fn shape_at(&mut self, id: u32, depth: usize) -> Shape {
        let opaque = |name: &str| Shape::Opaque {
            name: name.to_string(),
        };
        if depth > MAX_CHAIN {
            return opaque(LOOP);
        }
        if !self.visit() {
            return opaque(TOO_COMPLEX);
        }
        let Ok(ty) = self.btf.resolve(id) else {
            return opaque(LOOP);
        };
        match ty.kind {
            Kind::Void => Shape::Void,
            Kind::Int => Shape::Int {
                bytes: ty.size_or_type,
                signed: ty.int_encoding().0,
            },
            Kind::Float => Shape::Float {
                bytes: ty.size_or_type,
            },
            Kind::Enum | Kind::Enum64 => Shape::Enum {
                bytes: ty.size_or_type,
            },
            Kind::Ptr => Shape::Ptr {
                to: Box::new(self.shape_at(ty.size_or_type, depth + 1)),
            },
            Kind::Array => {
                let (elem, _, len) = ty.array().unwrap_or_default();
                Shape::Array {
                    of: Box::new(self.shape_at(elem, depth + 1)),
                    len,
                }
            }
            // Only aggregates and opaque types carry their name.
            Kind::Struct => Shape::Struct {
                name: self.name_of(&ty).to_string(),
            },
            Kind::Union => Shape::Union {
                name: self.name_of(&ty).to_string(),
            },
            Kind::FuncProto => self.func_shape(&ty, id, depth),
            Kind::Func => self.shape_at(ty.size_or_type, depth + 1),
            _ => opaque(self.name_of(&ty)),
        }
    }

    /// The shape of the prototype `ty` (type `id`); `<loop>` if it is
    /// already being expanded.
    fn func_shape(&mut self, ty: &Type<'_>, id: u32, depth: usize) -> Shape {
        if self.open_protos.contains(&id) {
            return Shape::Opaque {
                name: LOOP.to_string(),
            };
        }
        self.open_protos.push(id);
        let ret = Box::new(self.shape_at(ty.size_or_type, depth + 1));
        let mut params = Vec::new();
        for p in ty.params() {
            if self.exhausted() {
                params.push(Shape::Opaque {
                    name: TOO_COMPLEX.to_string(),
                });
                break;
            }
            params.push(self.shape_at(p.type_id, depth + 1));
        }
        self.open_protos.pop();
        Shape::Func { ret, params }
    }
}

/// `tag name`, or `tag {...}` for an anonymous type, as the parts of a base.
fn tagged<'s>(tag: &'s str, name: &'s str) -> [&'s str; 3] {
    if name.is_empty() {
        [tag, " ", "{...}"]
    } else {
        [tag, " ", name]
    }
}

/// The concatenation of `parts`, allocated once.
fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

/// `base` (the concatenation of its parts) followed by the declarator text,
/// separated the way C writes it.
fn join(base: &[&str], inner: &str) -> String {
    if inner.is_empty() {
        return concat(base);
    }
    let base_ends_with_star = base
        .iter()
        .rev()
        .find(|p| !p.is_empty())
        .is_some_and(|p| p.ends_with('*'));
    let glued = inner.starts_with('[')
        || inner.starts_with('(') && !inner.starts_with("(*")
        || base_ends_with_star;
    let mut out =
        String::with_capacity(base.iter().map(|p| p.len()).sum::<usize>() + 1 + inner.len());
    for p in base {
        out.push_str(p);
    }
    if !glued {
        out.push(' ');
    }
    out.push_str(inner);
    out
}
