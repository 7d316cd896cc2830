#!/usr/bin/env python3
"""The instruction stream of core/src/kernels/arm/asm_scan.rs's two-token kernel (`scan2_asm`).

A modulo schedule, period 32 cycles: one *group* (values j, j+1 of the two channels of a pair,
both tokens: 24 VFP operations, 8 loads and stores of two words) starts every 32 cycles, and
each group's operations sit at fixed offsets from its start (`GROUP` below), chosen so that
every VFP result is used exactly 8 cycles (the VFP11 latency) or more after it issues and the
loads fill the 8 cycles the VFP leaves. A pair is 32 groups (pass 1: j = 4m, 4m+1; pass 2:
j = 4m+2, 4m+3; N = 64), the stream runs on from pair to pair, and the accumulators are
saved and cleared where a pass ends. Prints the string lines of the kernel's blocks
(`head0`: a call's first pair's first 16 cycles; `head`: the same for the later pairs, with
the previous pair's last operations; `rest`: cycles 16 to 1024 of every pair, as invocations
of asm_scan.rs's `window!` macros; `flat`: the same, instruction by instruction; `exit`: the
last group's end).
Usage: scripts/scan2-modsched.py {head0|head|rest|flat|exit}
"""
import sys

N = 64
ROW = 4 * N            # row bytes: channel q's row is 256 bytes after channel p's
PAIR = 2 * ROW         # state bytes per pair
GROUPS = N // 2        # groups per pair (two passes of N/4)


def touch_at(m):
    """The next pair's line that pass 1's group m reads early (row p, row q, alternately)."""
    return PAIR + ROW * (m % 2) + 32 * (m // 2)


def group(k, shift=0):
    """(time, order, text) of group k of a pair; `shift` is added to the state offsets (the
    previous or next pair's groups, seen from this pair's pointer)."""
    pas, m = divmod(k, GROUPS // 2)
    off = 16 * m + 8 * pas
    so = off + shift
    P, Q = ('d0', 'd1') if k % 2 == 0 else ('d2', 'd3')
    p0, p1, q0, q1 = ('s0', 's1', 's2', 's3') if k % 2 == 0 else ('s4', 's5', 's6', 's7')
    t = 32 * k
    ops = [
        (-8, f'vldr {P}, [r0, #{so}]'),
        (-7, f'vldr {Q}, [r0, #{so + ROW}]'),
        (-6, f'vldr d4, [r1, #{off}]'),
        (-5, f'vldr d5, [r2, #{off}]'),
        (0, f'vmul.f32 {p0}, {p0}, s24'), (1, f'vmul.f32 {p1}, {p1}, s24'),
        (2, f'vmul.f32 {q0}, {q0}, s24'), (3, f'vmul.f32 {q1}, {q1}, s24'),
        (8, f'vmla.f32 {p0}, s8, s26'), (9, f'vmla.f32 {p1}, s9, s26'),
        (10, f'vmla.f32 {q0}, s8, s27'), (11, f'vmla.f32 {q1}, s9, s27'),
        (14, f'vldr d6, [r3, #{off}]'),
        (15, f'vldr d7, [r4, #{off}]'),
        (16, f'vmla.f32 s16, {p0}, s10'), (17, f'vmla.f32 s17, {p1}, s11'),
        (18, f'vmla.f32 s18, {q0}, s10'), (19, f'vmla.f32 s19, {q1}, s11'),
        (20, f'vmul.f32 {p0}, {p0}, s25'), (21, f'vmul.f32 {p1}, {p1}, s25'),
        (22, f'vmul.f32 {q0}, {q0}, s25'), (23, f'vmul.f32 {q1}, {q1}, s25'),
        (28, f'vmla.f32 {p0}, s12, s28'), (29, f'vmla.f32 {p1}, s13, s28'),
        (30, f'vmla.f32 {q0}, s12, s29'), (31, f'vmla.f32 {q1}, s13, s29'),
        (36, f'vmla.f32 s20, {p0}, s14'), (37, f'vmla.f32 s21, {p1}, s15'),
        (38, f'vmla.f32 s22, {q0}, s14'), (39, f'vmla.f32 s23, {q1}, s15'),
        (44, f'vstr {P}, [r0, #{so}]'),
        (45, f'vstr {Q}, [r0, #{so + ROW}]'),
    ]
    if pas == 0:
        # Pass 1 reads the next pair's state line by line (flags from the pair's `cmp`), rows
        # p and q alternately: the lines in the order the next pair's groups need them.
        ops.append((27.5, f'ldrls r12, [r0, #{touch_at(m)}]'))
    return [(t + a, i, s) for i, (a, s) in enumerate(ops)]


def stream(prev, cur, nxt):
    ev = []
    if cur:
        for k in range(GROUPS):
            ev += group(k)
    if prev:
        # The previous pair's last group, its pointer one pair back.
        ev += [(t - 32 * GROUPS, i, s) for (t, i, s) in group(GROUPS - 1, -PAIR)]
    if nxt:
        ev += [(t + 32 * GROUPS, i, s) for (t, i, s) in group(0, PAIR)]
    return ev


def emit(ev, lo, hi, inserts=()):
    ev = sorted([e for e in ev if lo <= e[0] < hi] + list(inserts))
    return [s for (_, _, s) in ev]


def save(first, regs, when):
    return [(when, -3, f'vstmia r5!, {{{{{regs[0]}-{regs[1]}}}}}'),
            (when, -2, f'vmov {first[0]}, {first[1]}, r9, r9'),
            (when, -1, f'vmov {first[2]}, {first[3]}, r9, r9')]


T0 = ('s16', 's17', 's18', 's19')
T1 = ('s20', 's21', 's22', 's23')
END = 32 * GROUPS
which = sys.argv[1]
if which == 'head0':
    out = emit(stream(False, True, False), 0, 16)
elif which == 'head':
    out = emit(stream(True, True, False), 0, 16) + [
        s for (_, _, s) in save(T1, ('s20', 's23'), 16)]
elif which == 'flat':
    ins = save(T0, ('s16', 's19'), END // 2 - 0.5) + save(T1, ('s20', 's23'), END // 2 + 15.5)
    ins.append((END // 2 + 32.5, 0, 'subs r8, r8, #1'))
    ev = stream(False, True, False) + [
        (t, i, s.replace('vldr d0', 'vldrne d0').replace('vldr d1', 'vldrne d1'))
        for (t, i, s) in stream(False, False, True)]
    out = emit(ev, 16, END, ins)
elif which == 'rest':
    # `flat` written with asm_scan.rs's macros: window k (`window!`, or `win_a!` and
    # `win_b!` where something is inserted) is cycles 16-47 of group k with group k+1's
    # first 16; the committed block is exactly these lines, and the kernel's machine code
    # is the same as with `flat`'s lines (compare the disassembly of two builds).
    for k in range(GROUPS - 1):
        c, n = ('e', 'o') if k % 2 == 0 else ('o', 'e')
        pas, m = divmod(k, GROUPS // 2)
        at = 16 * m + 8 * pas
        nxt = 16 * ((k + 1) % (GROUPS // 2)) + 8 * ((k + 1) // (GROUPS // 2))
        touch = f'touch_next!({touch_at(m)})' if pas == 0 else '""'
        if k == GROUPS // 2 - 1:
            print("        // Group 15, the end of pass 1: token 0's accumulators out and cleared after its last")
            print("        // use, token 1's after theirs.")
            print(f'        win_a!({c}, {n}, "", {nxt}, {nxt}, {touch}),')
            print('        "vstmia r5!, {{s16-s19}}",\n        "vmov s16, s17, r9, r9",\n        "vmov s18, s19, r9, r9",')
            print(f'        win_b!({c}, {n}, {at}, {nxt}),')
            print('        "vstmia r5!, {{s20-s23}}",\n        "vmov s20, s21, r9, r9",\n        "vmov s22, s23, r9, r9",')
        elif k == GROUPS // 2:
            print('        // Group 16, the first of pass 2, counts the pair (the flags for its last loads).')
            print(f'        win_a!({c}, {n}, "", {nxt}, {nxt}, ""),')
            print('        "vmul.f32 s4, s4, s24",\n        "subs r8, r8, #1",\n        "vmul.f32 s5, s5, s24",\n        "vmul.f32 s6, s6, s24",\n        "vmul.f32 s7, s7, s24",')
            print(f'        g_output1!({c}),\n        g_input0!({n}),\n        g_store!({c}, {at}),\n        bc1!({nxt}),')
        else:
            print(f'        window!({c}, {n}, {at}, {nxt}, {touch}),')
    print("        // Group 31's first half, with the next pair's first loads (group 0's, 512 bytes on) if")
    print("        // there is one.")
    print(f'        win_a!(o, e, "ne", {PAIR}, 0, ""),')
    sys.exit()
elif which == 'exit':
    out = emit(stream(False, True, False), END, END + 64)
else:
    sys.exit(__doc__)
for s in out:
    print(f'        "{s}",')
