//! Kfunc prototype compatibility, as libbpf decides it when it binds a kfunc
//! extern (`bpf_core_types_are_compat`): typedefs and qualifiers are already
//! gone from a [`Shape`]; integers match integers of any size, enums match
//! enums, aggregates match by kind alone, pointers and arrays recurse, and
//! prototypes need the same arity.

use crate::btf::Shape;

/// Whether a local (object) shape is compatible with a kernel shape.
#[must_use]
pub fn compatible(local: &Shape, kernel: &Shape) -> bool {
    match (local, kernel) {
        (Shape::Void, Shape::Void)
        | (Shape::Int { .. }, Shape::Int { .. })
        | (Shape::Enum { .. }, Shape::Enum { .. })
        | (Shape::Struct { .. }, Shape::Struct { .. })
        | (Shape::Union { .. }, Shape::Union { .. })
        | (Shape::Opaque { .. }, Shape::Opaque { .. }) => true,
        (Shape::Ptr { to: a }, Shape::Ptr { to: b })
        | (Shape::Array { of: a, .. }, Shape::Array { of: b, .. }) => compatible(a, b),
        (
            Shape::Func {
                ret: ra,
                params: pa,
            },
            Shape::Func {
                ret: rb,
                params: pb,
            },
        ) => {
            pa.len() == pb.len()
                && pa.iter().zip(pb).all(|(a, b)| compatible(a, b))
                && compatible(ra, rb)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(bytes: u32) -> Shape {
        Shape::Int {
            bytes,
            signed: false,
        }
    }

    fn ptr(to: Shape) -> Shape {
        Shape::Ptr { to: Box::new(to) }
    }

    fn func(ret: Shape, params: Vec<Shape>) -> Shape {
        Shape::Func {
            ret: Box::new(ret),
            params,
        }
    }

    #[test]
    fn integers_match_regardless_of_size() {
        assert!(compatible(&int(4), &int(8)));
    }

    #[test]
    fn arity_and_return_kind_matter() {
        let task = ptr(Shape::Struct {
            name: "task_struct".into(),
        });
        let v1 = func(Shape::Void, vec![task.clone(), int(8), int(8), int(8)]);
        let v2 = func(
            Shape::Int {
                bytes: 1,
                signed: false,
            },
            vec![task.clone(), int(8), int(8), int(8)],
        );
        let short = func(Shape::Void, vec![task, int(8)]);
        assert!(compatible(&v1, &v1));
        assert!(!compatible(&v1, &v2), "void vs bool return");
        assert!(!compatible(&v1, &short), "arity");
    }

    #[test]
    fn pointer_to_void_is_not_pointer_to_struct() {
        let s = ptr(Shape::Struct { name: "x".into() });
        assert!(!compatible(&ptr(Shape::Void), &s));
        assert!(compatible(&s, &ptr(Shape::Struct { name: "y".into() })));
    }
}
