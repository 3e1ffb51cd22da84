# Compiler settings shared by bpf-objects/Makefile and
# tests/fixtures/objects/Makefile. The including Makefile sets ROOT to the
# absolute path of the repository.
#
# Reproducibility: the objects depend only on the compiler, these flags and
# the input files. Absolute paths are mapped to repository-relative ones
# (-ffile-prefix-map), -nostdinc keeps host headers out, DWARF is stripped
# (it would carry the build directory), and .BTF / .BTF.ext stay.

CLANG ?= clang-16
LLVM_STRIP ?= llvm-strip-16

# vmlinux.h (bpftool 7.1) writes members of anonymous tagged types the way
# the kernel's -fms-extensions code declares them ("struct ns_tree;" inside
# a union); clang needs -fms-extensions to lay them out like the kernel.
BPF_CFLAGS := -target bpf -mcpu=v3 -O2 -g \
	-nostdinc -fms-extensions -fno-addrsig \
	-Wall -Wextra -Wno-unused-parameter -Wno-microsoft-anon-tag -Werror

BPF_INCLUDES = -I$(ROOT)/vmlinux -I$(ROOT)/compat
BPF_REPRO = -ffile-prefix-map=$(ROOT)/= -fdebug-prefix-map=$(ROOT)/=

# Every header an object may include (objects are rebuilt when one changes).
BPF_HEADERS = $(ROOT)/vmlinux/vmlinux.h $(wildcard $(ROOT)/compat/scx/*.h)

# $(call bpf_compile,SOURCE,OUTPUT,EXTRA_CFLAGS)
define bpf_compile
	@mkdir -p $(dir $(2))
	$(CLANG) $(BPF_CFLAGS) $(3) $(BPF_INCLUDES) $(BPF_REPRO) -c $(1) -o $(2).tmp
	$(LLVM_STRIP) -g $(2).tmp -o $(2)
	@rm -f $(2).tmp
endef
