//! Renders BTF types as C text (`struct task_struct *`, prototypes with
//! parameter names) and reduces them to a [`Shape`] for compatibility checks.
//!
//! Rendering follows chains with a depth limit, so a looping type renders as
//! `<loop>` rather than recursing forever.

use super::{Btf, Kind, MAX_CHAIN, Type};

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
        self.declarator(id, String::new(), 0)
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
        self.declarator(proto_id, name.to_string(), 0)
    }

    /// Renders `id` applied to the declarator text `inner` (C's inside-out syntax).
    fn declarator(self, id: u32, inner: String, depth: usize) -> String {
        if depth > MAX_CHAIN {
            return join("<loop>", &inner);
        }
        let Some(ty) = self.btf.get(id) else {
            return join(&format!("<bad type #{id}>"), &inner);
        };
        let name = self.btf.name(&ty);
        match ty.kind {
            Kind::Void => join("void", &inner),
            Kind::Int | Kind::Float | Kind::Typedef => join(name, &inner),
            Kind::Struct => join(&tagged("struct", name), &inner),
            Kind::Union => join(&tagged("union", name), &inner),
            Kind::Enum | Kind::Enum64 => join(&tagged("enum", name), &inner),
            Kind::Fwd => {
                let tag = if ty.kind_flag() { "union" } else { "struct" };
                join(&tagged(tag, name), &inner)
            }
            Kind::Ptr => self.pointer(&ty, &inner, depth),
            Kind::Const | Kind::Volatile | Kind::Restrict => self.qualified(&ty, &inner, depth),
            Kind::TypeTag => self.declarator(ty.size_or_type, inner, depth + 1),
            Kind::Array => {
                let (elem, _, n) = ty.array().unwrap_or_default();
                self.declarator(elem, format!("{inner}[{n}]"), depth + 1)
            }
            Kind::FuncProto => self.function(&ty, &inner, depth),
            Kind::Func | Kind::Var | Kind::DeclTag | Kind::Datasec => {
                self.declarator(ty.size_or_type, inner, depth + 1)
            }
        }
    }

    fn pointer(self, ty: &Type<'_>, inner: &str, depth: usize) -> String {
        let pointee = self.btf.get(ty.size_or_type).map(|t| t.kind);
        let inner = if matches!(pointee, Some(Kind::FuncProto | Kind::Array)) {
            format!("(*{inner})")
        } else {
            format!("*{inner}")
        };
        self.declarator(ty.size_or_type, inner, depth + 1)
    }

    fn qualified(self, ty: &Type<'_>, inner: &str, depth: usize) -> String {
        let word = match ty.kind {
            Kind::Const => "const",
            Kind::Volatile => "volatile",
            _ => "restrict",
        };
        let target = self.btf.get(ty.size_or_type).map(|t| t.kind);
        if matches!(target, Some(Kind::Ptr)) {
            // `char *const p`: the qualifier binds to the pointer.
            self.declarator(ty.size_or_type, format!("{word} {inner}"), depth + 1)
        } else {
            format!(
                "{word} {}",
                self.declarator(ty.size_or_type, inner.to_string(), depth + 1)
            )
        }
    }

    fn function(self, ty: &Type<'_>, inner: &str, depth: usize) -> String {
        let params: Vec<String> = ty
            .params()
            .map(|p| {
                if p.type_id == 0 {
                    return "...".to_string();
                }
                let pname = self.btf.str_at(p.name_off).to_string();
                self.declarator(p.type_id, pname, depth + 1)
            })
            .collect();
        let params = if params.is_empty() {
            "void".to_string()
        } else {
            params.join(", ")
        };
        self.declarator(ty.size_or_type, format!("{inner}({params})"), depth + 1)
    }

    /// The [`Shape`] of type `id`.
    #[must_use]
    pub fn shape(self, id: u32) -> Shape {
        self.shape_at(id, 0)
    }

    fn shape_at(self, id: u32, depth: usize) -> Shape {
        let opaque = |name: &str| Shape::Opaque {
            name: name.to_string(),
        };
        if depth > MAX_CHAIN {
            return opaque("<loop>");
        }
        let Ok(ty) = self.btf.resolve(id) else {
            return opaque("<loop>");
        };
        let name = self.btf.name(&ty).to_string();
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
            Kind::Struct => Shape::Struct { name },
            Kind::Union => Shape::Union { name },
            Kind::FuncProto => Shape::Func {
                ret: Box::new(self.shape_at(ty.size_or_type, depth + 1)),
                params: ty
                    .params()
                    .map(|p| self.shape_at(p.type_id, depth + 1))
                    .collect(),
            },
            Kind::Func => self.shape_at(ty.size_or_type, depth + 1),
            _ => opaque(&name),
        }
    }
}

fn tagged(tag: &str, name: &str) -> String {
    if name.is_empty() {
        format!("{tag} {{...}}")
    } else {
        format!("{tag} {name}")
    }
}

/// `base` followed by the declarator text, separated the way C writes it.
fn join(base: &str, inner: &str) -> String {
    if inner.is_empty() {
        base.to_string()
    } else if inner.starts_with('[')
        || inner.starts_with('(') && !inner.starts_with("(*")
        || base.ends_with('*')
    {
        format!("{base}{inner}")
    } else {
        format!("{base} {inner}")
    }
}
