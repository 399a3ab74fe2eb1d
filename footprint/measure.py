#!/usr/bin/env python3
"""Measure the footprint firmware from its ELF file (no tool but Python 3 needed
for `size`; `stack` also needs llvm-objdump).

  python3 footprint/measure.py size ELF [--baseline ELF] [--max-flash BYTES]
      # sections, flash/RAM, minus the baseline (same board, no driver), Driver
      # sizes, embassy check; fails when the driver's flash is over the budget
  python3 footprint/measure.py crates ELF  # .text by crate, from the symbol table
  python3 footprint/measure.py stack ELF [ROOT...]   # worst stack depth (needs -Z emit-stack-sizes)

`stack` reads the per-function frame sizes LLVM writes into `.stack_sizes` when the
firmware is built with `RUSTFLAGS="-Z emit-stack-sizes"` (nightly), builds the call
graph from the disassembly (direct `bl`, branches into other functions, and `blx`
through a register loaded from a literal pool), and reports the deepest path from
each root. Functions LLVM gave no entry for (precompiled compiler_builtins, machine-
outlined sequences) get a frame read from their prologue. Branches into another
function (tail calls) are counted as if the caller's frame were still live, so the
result is an upper bound of what a real run can reach.
"""

import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

FLASH_SECTIONS = [".vector_table", ".text", ".rodata", ".data"]
RAM_SECTIONS = [".data", ".bss"]


class Elf:
    def __init__(self, path):
        self.path = path
        self.d = Path(path).read_bytes()
        d = self.d
        if d[:4] != b"\x7fELF" or d[4] != 1 or d[5] != 1:
            raise SystemExit(f"{path}: not a 32-bit little-endian ELF")
        shoff, = struct.unpack_from("<I", d, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x2E)
        raw = [struct.unpack_from("<IIIIIIIIII", d, shoff + i * shentsize) for i in range(shnum)]
        names_off = raw[shstrndx][4]
        self.sections = {}
        self.by_index = []
        for s in raw:
            name = self.cstr(names_off + s[0])
            sec = {"name": name, "type": s[1], "flags": s[2], "addr": s[3],
                   "offset": s[4], "size": s[5], "link": s[6]}
            self.sections[name] = sec
            self.by_index.append(sec)

    def cstr(self, off):
        end = self.d.index(b"\0", off)
        return self.d[off:end].decode("utf-8", "replace")

    def data(self, name):
        s = self.sections.get(name)
        if not s or s["type"] == 8:  # NOBITS
            return b""
        return self.d[s["offset"]:s["offset"] + s["size"]]

    def size(self, name):
        s = self.sections.get(name)
        return s["size"] if s else 0

    def symbols(self):
        """(name, value, size, type, section name) of every symbol."""
        sym = self.sections.get(".symtab")
        if not sym:
            return []
        strtab = self.by_index[sym["link"]]
        out = []
        for i in range(sym["size"] // 16):
            name, value, size, info, _other, shndx = struct.unpack_from(
                "<IIIBBH", self.d, sym["offset"] + i * 16)
            sec = self.by_index[shndx]["name"] if 0 < shndx < len(self.by_index) else ""
            out.append((self.cstr(strtab["offset"] + name), value, size, info & 0xF, sec))
        return out

    def word_at(self, addr):
        for s in self.by_index:
            if s["type"] != 8 and s["addr"] <= addr < s["addr"] + s["size"] and s["flags"] & 2:
                off = s["offset"] + addr - s["addr"]
                return struct.unpack_from("<I", self.d, off)[0]
        return None


def driver_sizes(elf):
    raw = elf.data(".footprint_sizes")
    words = list(struct.unpack_from(f"<{len(raw) // 4}I", raw))
    marker = words.index(0xFFFFFFFF)
    points = [tuple(words[i:i + 3]) for i in range(0, marker, 3)]
    ingress, framer, config, profile, max_command = words[marker + 1:marker + 6]
    # size = A + N * (RX + B): two points with the same RX and different N give B.
    (n1, rx1, s1), (n2, rx2, s2) = next(
        (p, q) for p in points for q in points if p[1] == q[1] and p[0] != q[0])
    b = ((s2 - s1) - (n2 - n1) * rx1) // (n2 - n1)
    a = s1 - n1 * (rx1 + b)
    fits = all(s == a + n * (rx + b) for n, rx, s in points)
    return points, a, b, fits, {"receive window (Ingress)": ingress, "Framer": framer,
                                "Config": config, "profile": profile,
                                "command line buffer (MAX_COMMAND)": max_command}


def cmd_size(path, baseline=None, max_flash=None):
    elf = Elf(path)
    base = Elf(baseline) if baseline else None
    print(f"footprint: {path}")
    print()
    if base:
        print("| section | firmware | baseline (board only) | driver + profile + app calls |")
        print("|---|---:|---:|---:|")
    else:
        print("| section | bytes |")
        print("|---|---:|")

    def row(label, f, b):
        if base:
            print(f"| {label} | {f} | {b} | {f - b} |")
        else:
            print(f"| {label} | {f} |")

    for s in [".vector_table", ".text", ".rodata", ".data", ".bss"]:
        row(s, elf.size(s), base.size(s) if base else 0)
    flash = sum(elf.size(s) for s in FLASH_SECTIONS)
    ram = sum(elf.size(s) for s in RAM_SECTIONS)
    bflash = sum(base.size(s) for s in FLASH_SECTIONS) if base else 0
    bram = sum(base.size(s) for s in RAM_SECTIONS) if base else 0
    row("flash (vector table + .text + .rodata + .data)", flash, bflash)
    row("static RAM (.data + .bss)", ram, bram)
    driver_flash = flash - bflash
    print()
    print(f"driver flash: {driver_flash} bytes ({driver_flash / 1024:.1f} KiB)"
          + (f", budget {max_flash} ({max_flash / 1024:.0f} KiB)" if max_flash else ""))
    print()
    syms = elf.symbols()
    ram_syms = sorted(((size, name) for name, _v, size, typ, sec in syms
                       if sec in (".bss", ".data") and size > 0), reverse=True)
    print("static RAM by symbol: " + ", ".join(f"{short(n)} {s}" for s, n in ram_syms))
    points, a, b, fits, parts = driver_sizes(elf)
    print()
    print("size_of::<Driver<profile, N, RX>>() on thumbv7em-none-eabihf:")
    print()
    print("| N | RX | bytes | N x RX (socket buffers) | rest |")
    print("|---:|---:|---:|---:|---:|")
    for n, rx, s in points:
        print(f"| {n} | {rx} | {s} | {n * rx} | {s - n * rx} |")
    print()
    print(f"formula: {a} + N x (RX + {b}) bytes ({'fits every point' if fits else 'DOES NOT FIT'})")
    print("parts: " + ", ".join(f"{k} {v}" for k, v in parts.items()))
    embassy = sorted({n for n, *_ in syms if "embassy" in n})
    print()
    print(f"embassy symbols in the link: {len(embassy)}" + (": " + ", ".join(embassy[:10]) if embassy else ""))
    print()
    print(f"flash_bytes {flash}")
    print(f"driver_flash_bytes {driver_flash}")
    print(f"text_bytes {elf.size('.text')}")
    print(f"rodata_bytes {elf.size('.rodata')}")
    print(f"data_bytes {elf.size('.data')}")
    print(f"bss_bytes {elf.size('.bss')}")
    print(f"driver_fixed_bytes {a}")
    print(f"driver_per_socket_bytes {b}")
    print(f"embassy_symbols {len(embassy)}")
    failed = False
    if embassy:
        print("FAIL: embassy symbols are linked into the firmware", file=sys.stderr)
        failed = True
    if max_flash is not None and driver_flash > max_flash:
        print(f"FAIL: driver flash {driver_flash} bytes is over the budget of {max_flash}",
              file=sys.stderr)
        failed = True
    if failed:
        sys.exit(1)


def short(name):
    m = re.match(r"_ZN(.*)17h[0-9a-f]{16}E$", name)
    if not m:
        return name
    parts, rest = [], m.group(1)
    while rest:
        mm = re.match(r"(\d+)", rest)
        if not mm:
            break
        n = int(mm.group(1))
        start = len(mm.group(1))
        parts.append(rest[start:start + n])
        rest = rest[start + n:]
    return "::".join(parts)


def crate_of(name):
    if name.startswith("OUTLINED_FUNCTION"):
        return "(machine outliner: shared tails of any crate)"
    if name.startswith("footprint") or name in ("reset", "main", "SysTick"):
        return "footprint (the application)"
    if name.startswith("_ZN"):
        rest = name[3:]
        mm = re.match(r"(\d+)", rest)
        if mm:
            comp = rest[len(mm.group(1)):len(mm.group(1)) + int(mm.group(1))]
            m2 = re.match(r"_?\$LT\$(?:\$RF\$|\$BP\$|mut\$u20\$|const\$u20\$)*([A-Za-z0-9_]+)", comp)
            if m2:
                comp = m2.group(1)
            if comp in ("u8", "u16", "u32", "usize", "str", "_$u5b$u8$u5d$", "A", "T"):
                return "core"
            return comp
    if name.startswith("_R"):
        m = re.search(r"C(?:s[0-9A-Za-z]*_)?(\d+)([A-Za-z_])", name)
        if m:
            n = int(m.group(1))
            start = m.start(2)
            return name[start:start + n]
    if name.startswith("__aeabi") or name.startswith("mem") or name.startswith("__"):
        return "compiler_builtins"
    return "(other)"


def cmd_crates(path):
    elf = Elf(path)
    text = elf.sections[".text"]
    by = {}
    for name, value, size, typ, sec in elf.symbols():
        if sec != ".text" or typ != 2 or size == 0:
            continue
        c = crate_of(name)
        if c == "footprint":
            c = "footprint (the application)"
        by[c] = by.get(c, 0) + size
    total = text["size"]
    print("| crate (symbols after LTO and inlining) | .text bytes | share |")
    print("|---|---:|---:|")
    for c, s in sorted(by.items(), key=lambda kv: -kv[1]):
        print(f"| {c} | {s} | {100 * s / total:.1f}% |")
    rest = total - sum(by.values())
    print(f"| (padding, literal pools between symbols) | {rest} | {100 * rest / total:.1f}% |")
    for c, s in by.items():
        key = re.sub(r"[^a-z0-9]+", "_", c.lower()).strip("_")
        print(f"text_by_crate_{key} {s}")


def llvm_tool(name):
    try:
        sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True,
                                 text=True, check=True).stdout.strip()
        for p in Path(sysroot, "lib", "rustlib").glob(f"*/bin/{name}"):
            return str(p)
    except (OSError, subprocess.CalledProcessError):
        pass
    found = shutil.which(name) or next(
        (shutil.which(f"{name}-{v}") for v in range(25, 13, -1) if shutil.which(f"{name}-{v}")), None)
    if not found:
        raise SystemExit(f"{name} not found: rustup component add llvm-tools, or apt-get install llvm")
    return found


def uleb(data, i):
    result = shift = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


PUSH_RE = re.compile(r"^(push|push\.w|stmdb)\s+(?:sp!,\s*)?\{([^}]*)\}")
VPUSH_RE = re.compile(r"^vpush\s+\{([^}]*)\}")
SUBSP_RE = re.compile(r"^(sub|sub\.w|subw)\s+sp,\s*(?:sp,\s*)?#(0x[0-9a-f]+|\d+)")


def reg_count(regs):
    n = 0
    for part in regs.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-")
            n += int(b[1:]) - int(a[1:]) + 1
        elif part:
            n += 1
    return n


def cmd_stack(path, roots):
    elf = Elf(path)
    raw = elf.data(".stack_sizes")
    if not raw:
        raise SystemExit("no .stack_sizes section: build with RUSTFLAGS=\"-Z emit-stack-sizes\" (nightly)")
    frames = {}
    i = 0
    while i < len(raw):
        addr, = struct.unpack_from("<I", raw, i)
        size, i = uleb(raw, i + 4)
        frames[addr & ~1] = size
    funcs = {}
    for name, value, size, typ, sec in elf.symbols():
        if typ == 2 and sec == ".text":
            a = value & ~1
            if a not in funcs or funcs[a][0].startswith("$"):
                funcs[a] = (name, size)
    starts = sorted(funcs)

    def containing(addr):
        import bisect
        k = bisect.bisect_right(starts, addr) - 1
        if k >= 0:
            a = starts[k]
            if addr < a + max(funcs[a][1], 2):
                return a
        return None

    dis = subprocess.run([llvm_tool("llvm-objdump"), "-d", "--no-show-raw-insn", path],
                         capture_output=True, text=True, check=True).stdout
    edges = {a: set() for a in funcs}
    unresolved = {}
    prologue = {}
    current = None
    regs = {}
    seen = 0
    mid_branches = 0
    for line in dis.splitlines():
        m = re.match(r"^([0-9a-f]+) <(.*)>:$", line)
        if m:
            current = int(m.group(1), 16) & ~1
            regs = {}
            seen = 0
            continue
        m = re.match(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$", line)
        if not m or current is None or current not in funcs:
            continue
        mnem, ops = m.group(2), m.group(3)
        seen += 1
        ins = f"{mnem} {ops}"
        if seen <= 6 and current not in frames:
            pm = PUSH_RE.match(ins)
            vm = VPUSH_RE.match(ins)
            sm = SUBSP_RE.match(ins)
            if pm:
                prologue[current] = prologue.get(current, 0) + 4 * reg_count(pm.group(2))
            elif vm:
                prologue[current] = prologue.get(current, 0) + 8 * reg_count(vm.group(1))
            elif sm:
                prologue[current] = prologue.get(current, 0) + int(sm.group(2), 0)
        lm = re.match(r"^(ldr|ldr\.w)\s+(r\d+|r1[0-2]|lr),\s*\[pc,.*@\s*0x([0-9a-f]+)", ins)
        if lm:
            regs[lm.group(2)] = elf.word_at(int(lm.group(3), 16))
            continue
        rm = re.match(r"^(blx|bx)\s+(r\d+|lr)\s*$", ins.strip())
        if rm:
            if rm.group(2) == "lr":
                continue
            target = regs.get(rm.group(2))
            callee = containing(target & ~1) if target is not None else None
            if callee is None:
                unresolved.setdefault(current, []).append(m.group(1))
            else:
                edges[current].add((callee, rm.group(1) == "blx"))
            continue
        bm = re.match(r"^(bl|blx|b|b\.w|b[a-z]{2}|b[a-z]{2}\.w|cbz|cbnz)\s+(?:r\d+,\s*)?0x([0-9a-f]+)", ins)
        if bm:
            target = int(bm.group(2), 16)
            callee = containing(target)
            if callee is None or callee == current:
                continue
            if target != callee:
                # Into the middle of another function: not a call (bytes after a
                # call that does not return, decoded as an instruction).
                mid_branches += 1
                continue
            edges[current].add((callee, bm.group(1) in ("bl", "blx")))

    def frame(a):
        return frames.get(a, prologue.get(a, 0))

    memo = {}
    onstack = set()
    cycles = []

    def depth(a):
        if a in memo:
            return memo[a]
        if a in onstack:
            cycles.append(funcs[a][0])
            return (0, [])
        onstack.add(a)
        best = (0, [])
        for callee, _is_call in edges.get(a, ()):
            d = depth(callee)
            if d[0] > best[0]:
                best = d
        onstack.discard(a)
        r = (frame(a) + best[0], [a] + best[1])
        memo[a] = r
        return r

    by_name = {n: a for a, (n, _s) in funcs.items()}
    by_name.update({short(n): a for a, (n, _s) in funcs.items()})
    for root in roots:
        a = by_name.get(root)
        if a is None:
            print(f"{root}: no such function")
            continue
        total, path_ = depth(a)
        print(f"worst stack depth from {root}: {total} bytes")
        for f in path_:
            src = "" if f in frames else " (from prologue)"
            print(f"    {frame(f):6d}  {demangle(funcs[f][0])}{src}")
        print(f"stack_{root} {total}")
    if cycles:
        print("recursion (depth unbounded along these): " + ", ".join(sorted(set(cycles))))
    missing = [f for f in funcs if f not in frames]
    print(f"functions without a .stack_sizes entry (frame read from the prologue): {len(missing)}")
    print(f"branches into the middle of another function (ignored): {mid_branches}")
    if unresolved:
        n = sum(len(v) for v in unresolved.values())
        print(f"indirect calls not resolved: {n} in " + ", ".join(demangle(funcs[f][0]) for f in unresolved))
    else:
        print("indirect calls not resolved: 0")


def demangle(name):
    if name.startswith("_ZN"):
        return short(name)
    if name.startswith("_R"):
        # Rust v0 (precompiled sysroot crates): the path's identifiers, in order.
        parts, i = [], 0
        while i < len(name):
            m = re.match(r"(\d+)_?", name[i:])
            if m and (i == 0 or not name[i - 1].isdigit()):
                n = int(m.group(1))
                start = i + len(m.group(0))
                ident = name[start:start + n]
                if n and len(ident) == n and re.match(r"[A-Za-z_]", ident):
                    parts.append(ident)
                    i = start + n
                    continue
            i += 1
        return "::".join(parts) or name
    return name


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "size":
        args = sys.argv[3:]
        max_flash = int(args[args.index("--max-flash") + 1]) if "--max-flash" in args else None
        baseline = args[args.index("--baseline") + 1] if "--baseline" in args else None
        cmd_size(path, baseline, max_flash)
    elif cmd == "crates":
        cmd_crates(path)
    elif cmd == "stack":
        cmd_stack(path, sys.argv[3:] or ["footprint_poll", "footprint_app_step", "reset", "SysTick"])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
