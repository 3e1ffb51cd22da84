//! BTF and BTF.ext: the input is `[u16 LE btf_len][btf][btf.ext]`. A BTF
//! that parses is walked the way every consumer walks it (every type
//! resolved, sized, formatted as C; the kernel facts scan), then BTF.ext
//! is parsed against it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scxpack::btf::{Btf, BtfExt, TypeFormatter};

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (btf, ext) = rest.split_at(len);
    let Ok(btf) = Btf::parse(btf) else {
        return;
    };
    for id in 0..btf.len().min(512) {
        let _ = btf.resolve(id);
        let _ = btf.size_of(id);
        let _ = TypeFormatter::new(&btf).type_name(id);
        let _ = TypeFormatter::new(&btf).shape(id);
    }
    let _ = scxpack::kernel::KernelFacts::from_btf(&btf, None);
    let _ = BtfExt::parse(ext, &btf);
});
