#!/usr/bin/env python3
"""Writes the committed seed corpora of fuzz/corpus/TARGET/ (docs/fuzzing.md).

Hand-made inputs, the hostile inputs of tests/hostile_inputs.rs (issue #18)
rebuilt small, and trimmed real ones (the 1.5 KB BPF object of
tests/fixtures/package, its .BTF and .BTF.ext). Every seed is under 4 KiB.
Run from the repository root after `cargo build` (it packs bpf-objects/fifo
with target/debug/scxpack to borrow real requirements):
python3 fuzz/make-seeds.py
"""
import gzip, hashlib, io, json, lzma, os, struct, subprocess, tarfile, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")
OBJ = os.path.join(ROOT, "tests/fixtures/package/no_struct_ops.bpf.o")


def put(target, name, data):
    assert len(data) < 4096, (target, name, len(data))
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def words(*w):
    return b"".join(struct.pack("<I", x) for x in w)


def btf(types, strings):
    return b"\x9f\xeb\x01\x00" + words(24, 0, len(types), len(types), len(strings)) + types + strings


INT = btf(words(1, 1 << 24, 4, (1 << 24) | 32), b"\0int\0")
# Issue #18: a FUNC_PROTO whose return type and parameters are itself.
LOOP = btf(words(1, 1 << 24, 4, (1 << 24) | 32)
           + words(0, (13 << 24) | 2, 2, 0, 2, 0, 2)
           + words(5, (12 << 24) | 1, 2), b"\0int\0scx_bpf_loop\0")
# struct s { int a; struct s *next; } and a typedef cycle t -> u -> t.
STRUCT = btf(words(1, 1 << 24, 4, (1 << 24) | 32)
             + words(5, (4 << 24) | 2, 16, 7, 1, 0, 9, 3, 64)
             + words(0, 2 << 24, 2)
             + words(14, 8 << 24, 5)
             + words(16, 8 << 24, 4), b"\0int\0s\0a\0next\0t\0u\0")


def section(name):
    """Section `name` of the 64-bit little-endian ELF at OBJ."""
    elf = open(OBJ, "rb").read()
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3a)
    sh = lambda i: struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize)
    strtab_off = sh(shstrndx)[4]
    for i in range(shnum):
        nm, _, _, _, off, size = sh(i)
        if elf[strtab_off + nm:].split(b"\0", 1)[0] == name.encode():
            return elf[off:off + size]
    raise KeyError(name)


def btf_input(b, ext=b""):
    return struct.pack("<H", len(b)) + b + ext


def ar(members):
    out = b"!<arch>\n"
    for name, data in members:
        out += b"%-16s%-12s%-6s%-6s%-8s%-10d`\n" % (name.encode(), b"0", b"0", b"0", b"100644", len(data))
        out += data + (b"\n" if len(data) % 2 else b"")
    return out


def tar_of(entries, compress):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            t.addfile(info, io.BytesIO(data))
    return compress(buf.getvalue())


def gz(b):
    return gzip.compress(b, 9, mtime=0)


def deb(image_name, image):
    data = tar_of([(image_name, image)], lambda b: lzma.compress(b, preset=9))
    control = tar_of([("./control", b"Package: linux-image-fuzz\n")], gz)
    return ar([("debian-binary", b"2.0\n"), ("control.tar.gz", control), ("data.tar.xz", data)])


def elf_vmlinux(btf_bytes):
    """A minimal ELF64 executable with a .BTF section (what a vmlinux holds)."""
    shstr = b"\0.BTF\0.shstrtab\0"
    body_off = 64
    btf_off, str_off = body_off, body_off + len(btf_bytes)
    shoff = (str_off + len(shstr) + 7) & ~7
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, 3, 2)
    out = bytearray(ehdr) + btf_bytes + shstr
    out += bytes(shoff - len(out))
    out += bytes(64)  # null section
    out += struct.pack("<IIQQQQIIQQ", 1, 1, 0, 0, btf_off, len(btf_bytes), 0, 0, 4, 0)
    out += struct.pack("<IIQQQQIIQQ", 6, 3, 0, 0, str_off, len(shstr), 0, 0, 1, 0)
    return bytes(out)


def payload(compressed, declared):
    """A bzImage payload: compressed data, then its decompressed size (le32)."""
    return compressed + struct.pack("<I", declared)


def bzimage(payload):
    """A bzImage: setup of 1 sector + header, protected-mode part holding `payload`."""
    setup_sects = 1
    img = bytearray(512 * (setup_sects + 1))
    img[0x1f1] = setup_sects
    img[0x1fe:0x200] = b"\x55\xaa"
    img[0x202:0x206] = b"HdrS"
    img[0x206:0x208] = struct.pack("<H", 0x020f)
    pm = bytearray(64) + payload
    img[0x248:0x24c] = struct.pack("<I", 64)          # payload_offset
    img[0x24c:0x250] = struct.pack("<I", len(payload))  # payload_length
    return bytes(img) + bytes(pm)


obj = open(OBJ, "rb").read()
# object: the real small object, truncated, and a header alone.
put("object", "no_struct_ops.bpf.o", obj)
put("object", "truncated.bpf.o", obj[:1024])
put("object", "elf-header-only", obj[:64])

# btf: [u16 len][BTF][BTF.ext]
btf_sec, ext_sec = section(".BTF"), section(".BTF.ext")
put("btf", "object-btf-and-ext", btf_input(btf_sec, ext_sec))
put("btf", "int", btf_input(INT))
put("btf", "proto-loop", btf_input(LOOP))
put("btf", "struct-typedef-cycle", btf_input(STRUCT))

# kernel_source: raw BTF, ELF vmlinux, bzImages (gzip/xz/zstd payloads),
# a .deb holding a bzImage, and bombs that lie about their size.
vmlinux = elf_vmlinux(STRUCT)
put("kernel_source", "raw-btf", STRUCT)
put("kernel_source", "raw-btf-loop", LOOP)
put("kernel_source", "elf-vmlinux", vmlinux)
put("kernel_source", "bzimage-gzip", bzimage(payload(gz(vmlinux)[:-4], len(vmlinux))))
xz = lzma.compress(vmlinux, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
put("kernel_source", "bzimage-xz", bzimage(payload(xz, len(vmlinux))))
zst = subprocess.run(["zstd", "-19", "-q", "-c"], input=vmlinux, capture_output=True, check=True).stdout
put("kernel_source", "bzimage-zstd", bzimage(payload(zst, len(vmlinux))))
bomb = subprocess.run(["zstd", "-19", "-q", "-c", "--no-content-size"], input=b"\0" * (64 << 20),
                      capture_output=True, check=True).stdout
put("kernel_source", "bzimage-zstd-bomb", bzimage(payload(bomb, 1 << 20)))
put("kernel_source", "bzimage-gzip-bomb", bzimage(payload(gz(b"\0" * (2 << 20))[:-4], 1 << 20)))
put("kernel_source", "deb", deb("./boot/vmlinuz-6.99.0-fuzz", bzimage(payload(gz(vmlinux)[:-4], len(vmlinux)))))


def arm64_image(btf_bytes):
    """An arm64 Image: "ARM\\x64" at 0x38, a banner, a decoy BTF header, the BTF."""
    head = bytearray(0x40)
    head[0x38:0x3C] = b"ARMd"
    decoy = b"\x9f\xeb\x01\x00" + words(24, 0, 0xFFFF, 0, 0)
    return bytes(head) + b"Linux version 6.99.0-fuzz-arm64 (f@z) #1\0" + decoy + btf_bytes


def zboot(compressed, comp_type, image_len):
    """An EFI zboot image as zboot-header.S lays it out (PE machine arm64)."""
    head = bytearray(0x80)
    head[0:2] = b"MZ"
    head[4:8] = b"zimg"
    head[8:16] = words(0x80, len(compressed))
    head[24:24 + len(comp_type)] = comp_type
    head[0x38:0x40] = words(0x818223CD, 0x40)
    head[0x40:0x46] = b"PE\0\0" + struct.pack("<H", 0xAA64)
    return bytes(head) + compressed + words(image_len)


# arm64: a plain Image, an Image.gz and EFI zboot images (gzip, zstd).
image = arm64_image(STRUCT)
put("kernel_source", "arm64-image", image)
put("kernel_source", "arm64-image-gz", gz(image))
put("kernel_source", "arm64-zboot-gzip", zboot(gz(image)[:-4], b"gzip", len(image)))
zimg = subprocess.run(["zstd", "-19", "-q", "-c"], input=image, capture_output=True, check=True).stdout
put("kernel_source", "arm64-zboot-zstd", zboot(zimg, b"zstd22", len(image)))

def fifo_requirements():
    """fifo's requirements as `pack` records them, trimmed to a few of each."""
    with tempfile.TemporaryDirectory() as t:
        pkg = os.path.join(t, "fifo.scxpkg")
        subprocess.run([os.path.join(ROOT, "target/debug/scxpack"), "pack",
                        os.path.join(ROOT, "bpf-objects/fifo"), "-o", pkg], check=True, capture_output=True)
        with tarfile.open(pkg) as tf:
            m = json.load(tf.extractfile("manifest.json"))
    r = m["schedulers"][0]["variants"][0]["requirements"]
    for k, v in r.items():
        if isinstance(v, list):
            r[k] = v[:1]
    for ops in r["struct_ops"]:
        cb = ops.get("callbacks")
        if isinstance(cb, list):
            ops["callbacks"] = cb[:3]
        elif isinstance(cb, dict):
            ops["callbacks"] = dict(list(cb.items())[:3])
        ops["layout"] = ops.get("layout", [])[:3]
    return r


# manifest and package: a one-scheduler manifest around a 16-byte object.
object_bytes = b"not really elf\n\0"
manifest = {
    "schema_version": "1.0", "name": "fuzz", "version": "1.0",
    "provenance": {"build_epoch": 0},
    "schedulers": [{"name": "fuzz", "description": "", "parameters": [], "variants": [{
        "name": "default", "object": "objects/fuzz/fuzz.bpf.o",
        "sha256": hashlib.sha256(object_bytes).hexdigest(), "size": len(object_bytes),
        "description": "", "requirements": fifo_requirements()}]}],
}
mjson = (json.dumps(manifest, indent=None) + "\n").encode()
put("manifest", "minimal.json", mjson)
put("manifest", "duplicate-key.json", mjson.replace(b'"name": "fuzz",', b'"name": "fuzz", "name": "zz",', 1))
put("manifest", "schema-2.json", mjson.replace(b'"1.0"', b'"2.1"', 1))
put("manifest", "traversal.json", mjson.replace(b"objects/fuzz/", b"../../", 1))
pkg = lambda entries: tar_of(entries, gz)
put("package", "minimal.scxpkg", pkg([("manifest.json", mjson), ("objects/fuzz/fuzz.bpf.o", object_bytes)]))
put("package", "tampered.scxpkg", pkg([("manifest.json", mjson), ("objects/fuzz/fuzz.bpf.o", object_bytes[::-1])]))
put("package", "extra-entry.scxpkg", pkg([("manifest.json", mjson), ("objects/fuzz/fuzz.bpf.o", object_bytes), ("x", b"x")]))
put("package", "manifest-not-first.scxpkg", pkg([("objects/fuzz/fuzz.bpf.o", object_bytes), ("manifest.json", mjson)]))

# loader_layout: every record kind, escapes, absent values; and broken ones.
put("loader_layout", "all", b"scxpack-layout 1\n"
    b"struct_ops fifo_ops sched_ext_ops sched_ext_ops 1 336 4 fifo\n"
    b"member enqueue 8 8\nmember flags 280 8\nmember name 208 128\n"
    b"set enqueue\nset flags\ncallback enqueue fifo_enqueue\n"
    b"rodata __SCX_ENQ_WAKEUP .rodata 0 8 const%20volatile%20u64 SCX_ENQ_WAKEUP 0 1\n"
    b"rodata slice_us .rodata 8 8 const%20volatile%20u64 - 10000 0\n"
    b"kconfig CONFIG_HZ 1 int\n"
    b"exit uei .data.uei 0 1024\n")
put("loader_layout", "escapes", b"scxpack-layout 1\n"
    b"struct_ops ops%20map %2D 100%25 0 7 - %2D\nset %C3%A9\nset \ncallback a a%0Ab\n")
put("loader_layout", "broken", b"scxpack-layout 1\nmember flags 0 8\nrodata x .rodata 0 4 t - - 2\n%ZZ\n")
# kconfig
put("kconfig", "basic", b"#\n# Automatically generated file; DO NOT EDIT.\nCONFIG_SCHED_CLASS_EXT=y\nCONFIG_BPF_JIT=y\n# CONFIG_DEBUG_INFO_BTF is not set\nCONFIG_HZ=250\nCONFIG_LOCALVERSION=\"-fuzz\"\n")
put("kconfig", "odd", b"CONFIG_=\nCONFIG_X\n=y\nCONFIG_Y=\"unterminated\n\xff\xfeCONFIG_Z=m\r\n")
