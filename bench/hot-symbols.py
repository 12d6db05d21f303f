"""Helpers of bench/hot-symbols.sh.

  hot-symbols.py bundle CONFIG                     process /bin/true, no terminal
  hot-symbols.py symbols EXE SYMS SEGMENTS         functions on EXE's cached text pages
"""
import ctypes
import json
import mmap
import os
import sys

PAGE = 4096


def bundle(path):
    c = json.load(open(path))
    c["process"]["args"] = ["/bin/true"]
    c["process"]["terminal"] = False
    json.dump(c, open(path, "w"), indent=2)


def cached_pages(exe):
    """File page numbers of EXE that are in the page cache (mincore)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    fd = os.open(exe, os.O_RDONLY)
    size = os.fstat(fd).st_size
    addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        sys.exit("hot-symbols: mmap failed")
    n = (size + PAGE - 1) // PAGE
    vec = ctypes.create_string_buffer(n)
    if libc.mincore(ctypes.c_void_p(addr), size, vec) != 0:
        sys.exit(f"hot-symbols: mincore: errno {ctypes.get_errno()}")
    return {i for i in range(n) if vec.raw[i] & 1}


def text_segment(segments_file):
    """(vaddr, offset, filesz) of the executable LOAD segment (readelf -lW output)."""
    for line in open(segments_file):
        f = line.split()
        if f and f[0] == "LOAD" and "E" in f[6:-1]:
            return int(f[2], 16), int(f[1], 16), int(f[4], 16)
    sys.exit("hot-symbols: no executable LOAD segment")


def symbols(exe, syms_file, segments_file):
    pages = cached_pages(exe)
    vaddr, offset, filesz = text_segment(segments_file)
    seen = set()
    for line in open(syms_file):
        addr, size, name = line.split()
        start = int(addr, 16) - vaddr + offset
        if not offset <= start < offset + filesz or name in seen:
            continue
        end = start + max(int(size, 16), 1) - 1
        if any(p in pages for p in range(start // PAGE, end // PAGE + 1)):
            seen.add(name)
            print(name)


if __name__ == "__main__":
    if sys.argv[1] == "bundle":
        bundle(sys.argv[2])
    else:
        symbols(*sys.argv[2:5])
