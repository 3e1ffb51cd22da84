//! struct_ops maps of kernel types other than `sched_ext_ops`, checked the
//! way libbpf's `bpf_map__init_kern_struct_ops` does: the type must exist in
//! the kernel's BTF as a struct, and every member the object sets must be a
//! member of it (libbpf: "Cannot find member M in kernel BTF").

use super::{Assessment, Reason};
use crate::btf::Kind;
use crate::kernel::KernelTypes;
use crate::object::StructOpsMap;

pub(super) fn check(map: &StructOpsMap, btf: Option<&KernelTypes<'_>>, a: &mut Assessment) {
    let Some(btf) = btf else {
        a.note(format!(
            "struct_ops map {} of type {} not checked (no kernel BTF given)",
            map.name, map.kernel_type
        ));
        return;
    };
    let Some(st) = btf.named(&map.kernel_type).find(|t| t.kind == Kind::Struct) else {
        a.refuse(Reason::StructOpsTypeMissing {
            map: map.name.clone(),
            kernel_type: map.kernel_type.clone(),
        });
        return;
    };
    let kernel = btf.btf();
    for member in &map.members_set {
        if !st.members().any(|m| kernel.str_is(m.name_off, member)) {
            a.refuse(Reason::StructOpsMemberMissing {
                map: map.name.clone(),
                kernel_type: map.kernel_type.clone(),
                member: member.clone(),
            });
        }
    }
}
