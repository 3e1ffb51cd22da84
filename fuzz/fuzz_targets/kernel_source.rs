//! Any kernel container recognised by content — bzImage (with its
//! compressed payload), ELF vmlinux, raw BTF, kernel `.deb` — → BTF bytes
//! and release, then the kernel facts of that BTF. Decompression is capped
//! at 16 MiB here so bombs are cheap to find.
#![no_main]

use libfuzzer_sys::fuzz_target;

const MAX_OUTPUT: u64 = 16 << 20;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz-kernel");
    let Ok(image) = scxpack::kernel::source::read_kernel_bytes_with_limit(path, data, MAX_OUTPUT)
    else {
        return;
    };
    if let Ok(btf) = scxpack::btf::Btf::parse(&image.btf) {
        let _ = scxpack::kernel::KernelFacts::from_btf(&btf, image.release);
    }
});
