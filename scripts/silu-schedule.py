#!/usr/bin/env python3
"""Generates the software-pipelined SiLU kernel body (asm_silu.rs) and orders it with a
greedy list scheduler under the arm11cost timings. Usage: silu-schedule.py [loop|pro|tail|all|search] -> lines."""
import sys

def op(t, d=None, s=(), e=(), late=(), unit=None, ubusy=0, lsu=0, issue=1, mr=(), mw=(), flags_w=False, flags_r=False, barrier=False):
    dd = dict(d or {})
    ss = list(s)
    if flags_w: dd['cpsr'] = 1
    if flags_r: ss.append('cpsr')
    return dict(t=t, d=dd, s=ss, e=list(e), late=list(late), unit=unit, ubusy=ubusy, lsu=lsu, issue=issue, mr=set(mr), mw=set(mw), barrier=barrier)

def V(t, dst, srcs):  # VFP arithmetic, latency 8, FMAC pipe
    return op(t, {dst: 8}, srcs, unit='fmac', ubusy=1)
def alu(t, dst, srcs=(), early=(), fw=False, fr=False):
    return op(t, {dst: 1} if dst else {}, srcs, e=early, flags_w=fw, flags_r=fr)

N = ['s0', 's1', 's2', 's3']
DN = ['s4', 's5', 's6', 's7']
A = ['s8', 's9', 's10', 's11']
TP = [('s12', 's13', 'd6'), ('s14', 's15', 'd7')]
B = ['s17', 's18', 's21', 's22']
L = ['s16', 's19', 's20', 's23']
PD = ['d8', 'd9', 'd10', 'd11']
# memory order inside each lane's d register: lane 0,2: [hi, lo]; lane 1,3: [lo, hi]
X = ['r2', 'r3', 'r4', 'r5']
H = ['r6', 'r7', 'r8', 'r9']
INV_LN2, LN2_HI, LN2_LO, P2, P1, ONE, TWO = ['s%d' % i for i in range(25, 32)]

def check_ops(defer=False):
    ops = [op('vstr d6, [r0, #-24]', {}, ['s12', 's13'], e=['r0'], lsu=1)] if defer else []
    ops += [op('ldm r0, {{r2-r5}}', {'r2': 3, 'r3': 3, 'r4': 4, 'r5': 4}, e=['r0'], lsu=2)]
    for j in range(4):
        ops.append(alu('sub %s, %s, #0x39800000' % (H[j], X[j]), H[j], [X[j]]))
    for j in range(4):
        c = 'cmp' if j == 0 else 'cmphi'
        ops.append(alu('%s lr, %s, lsl #1' % (c, H[j]), None, ['lr'], [H[j]], fw=True, fr=j > 0))
    return ops

def p_ops():
    ops = []
    for j in range(4):
        ops.append(alu('and %s, %s, #0x80000000' % (H[j], X[j]), H[j], [X[j]]))
        ops.append(alu('eor %s, %s, r10' % (H[j], H[j]), H[j], [H[j], 'r10']))
    for p in range(2):
        a0, a1 = A[2*p], A[2*p+1]
        ops.append(op('vmov %s, %s, %s, %s' % (a0, a1, H[2*p], H[2*p+1]), {a0: 4, a1: 4}, [H[2*p], H[2*p+1]]))
        b0, b1 = B[2*p], B[2*p+1]
        ops.append(op('vmov %s, %s, %s, %s' % (b0, b1, X[2*p], X[2*p+1]), {b0: 4, b1: 4}, [X[2*p], X[2*p+1]]))
    for j in range(4):
        ops.append(V('vmls.f32 %s, %s, %s' % (A[j], B[j], INV_LN2), A[j], [A[j], B[j], INV_LN2]))
        ops.append(V('vcvt.s32.f32 %s, %s' % (A[j], A[j]), A[j], [A[j]]))
    for p in range(2):
        a0, a1 = A[2*p], A[2*p+1]
        ops.append(op('vmov %s, %s, %s, %s' % (H[2*p], H[2*p+1], a0, a1), {H[2*p]: 2, H[2*p+1]: 2}, [a0, a1]))
    for j in range(4):
        ops.append(alu('add %s, r12, %s, lsl #23' % (X[j], H[j]), X[j], ['r12'], [H[j]]))
    ops.append(op('stm sp, {{r2-r5}}', {}, X, lsu=2, mw=['sc0', 'sc1', 'sc2', 'sc3']))
    for j in range(4):
        a, b, l = A[j], B[j], L[j]
        ops.append(V('vcvt.f32.s32 %s, %s' % (a, a), a, [a]))
        ops.append(V('vnmla.f32 %s, %s, %s' % (b, a, LN2_HI), b, [b, a, LN2_HI]))
        ops.append(V('vmul.f32 %s, %s, %s' % (l, a, LN2_LO), l, [a, LN2_LO]))
        ops.append(op('vstr %s, [sp, #%d]' % (PD[j], 16 + 8*j), {}, [l, b], e=['sp'], lsu=1, mw=['lh%d' % j]))
        ops.append(V('vsub.f32 %s, %s, %s' % (a, b, l), a, [b, l]))
        ops.append(V('vmul.f32 %s, %s, %s' % (l, a, a), l, [a]))
        ops.append(V('vmul.f32 %s, %s, %s' % (b, l, P2), b, [l, P2]))
        ops.append(V('vadd.f32 %s, %s, %s' % (b, P1, b), b, [P1, b]))
        ops.append(V('vmul.f32 %s, %s, %s' % (b, l, b), b, [l, b]))
        ops.append(V('vsub.f32 %s, %s, %s' % (b, a, b), b, [a, b]))
        ops.append(V('vmul.f32 %s, %s, %s' % (N[j], a, b), N[j], [a, b]))
        ops.append(V('vsub.f32 %s, %s, %s' % (DN[j], TWO, b), DN[j], [TWO, b]))
    return ops

def q_ops(defer=True):
    ops = []
    for j in range(4):
        n, dn = N[j], DN[j]
        ops.append(op('vdiv.f32 %s, %s, %s' % (n, n, dn), {n: 19}, [n, dn], unit='div', ubusy=15))
    for j in range(4):
        n, dn = N[j], DN[j]
        t0, t1, td = TP[j % 2]
        lo, hi = (t0, t1) if j % 2 == 0 else (t1, t0)
        ops.append(op('vldr %s, [sp, #%d]' % (td, 16 + 8*j), {t0: 4, t1: 4}, e=['sp'], lsu=1, mr=['lh%d' % j]))
        ops.append(V('vsub.f32 %s, %s, %s' % (n, n, lo), n, [n, lo]))
        ops.append(V('vadd.f32 %s, %s, %s' % (n, n, hi), n, [n, hi]))
        ops.append(V('vadd.f32 %s, %s, %s' % (n, ONE, n), n, [ONE, n]))
        ops.append(op('vldr %s, [sp, #%d]' % (t0, 4*j), {t0: 4}, e=['sp'], lsu=1, mr=['sc%d' % j]))
        ops.append(V('vmul.f32 %s, %s, %s' % (n, n, t0), n, [n, t0]))
        ops.append(V('vadd.f32 %s, %s, %s' % (n, ONE, n), n, [ONE, n]))
        if j % 2 == 0:
            ops.append(op('vldr d%d, [r0, #%d]' % (2 + j // 2, -16 + 4*j), {DN[j]: 4, DN[j+1]: 4}, e=['r0'], lsu=1))
        res = 's%d' % (10 + j) if (defer and j >= 2) else dn
        ops.append(op('vdiv.f32 %s, %s, %s' % (res, dn, n), {res: 19}, [dn, n], unit='div', ubusy=15))
        if j == 1:
            ops.append(op('vstr d2, [r0, #-16]', {}, [DN[0], DN[1]], e=['r0'], lsu=1))
        if j == 3 and not defer:
            ops.append(op('vstr d3, [r0, #-8]', {}, [DN[2], DN[3]], e=['r0'], lsu=1))
    return ops

def deps_of(ops):
    n = len(ops)
    deps = [[] for _ in range(n)]
    for j in range(n):
        rj = set(ops[j]['s']) | set(ops[j]['e']) | set(ops[j]['late']); wj = set(ops[j]['d'])
        for i in range(j):
            ri = set(ops[i]['s']) | set(ops[i]['e']) | set(ops[i]['late']); wi = set(ops[i]['d'])
            if ops[i]['barrier'] or ops[j]['barrier']:
                deps[j].append((i, 'ord')); continue
            if wi & rj: deps[j].append((i, 'raw'))
            elif wi & wj: deps[j].append((i, 'waw'))
            elif ri & wj: deps[j].append((i, 'war'))
            elif (ops[i]['mw'] & (ops[j]['mr'] | ops[j]['mw'])) or (ops[i]['mr'] & ops[j]['mw']):
                deps[j].append((i, 'mem'))
    return deps

def schedule(ops, state=None, pin_last=(), keep=False):
    n = len(ops)
    deps = deps_of(ops)
    succ = [[] for _ in range(n)]
    for j in range(n):
        for i, _ in deps[j]: succ[i].append(j)
    h = [0]*n
    for j in range(n-1, -1, -1):
        lat = max(list(ops[j]['d'].values()) + [1])
        h[j] = lat + max([h[k] for k in succ[j]] + [0])
    for j in range(n):
        h[j] += ops[j].get('bonus', 0)
    st = dict(state or {})
    ready = dict(st.get('ready', {}))
    fmac_free = st.get('fmac', 0); div_free = st.get('div', 0); lsu_free = st.get('lsu', 0)
    issued = {}; cyc = 0; out = []; done = set()
    while len(done) < n:
        best = None
        for j in range(n):
            if j in done or any(i not in done for i, _ in deps[j]): continue
            o = ops[j]
            t = cyc
            for r in o['s']: t = max(t, ready.get(r, 0))
            for r in o['e']: t = max(t, ready.get(r, 0) + 1)
            for r in o['late']: t = max(t, ready.get(r, 0) - 1)
            if o['lsu']: t = max(t, lsu_free)
            if o['unit'] == 'fmac': t = max(t, fmac_free)
            if o['unit'] == 'div': t = max(t, div_free)
            key = (t, -h[j], j)
            if best is None or key < best[0]: best = (key, j)
        (t, _, _), j = best
        o = ops[j]
        issued[j] = t; done.add(j)
        for r, l in o['d'].items(): ready[r] = t + l
        if o['lsu']: lsu_free = t + o['lsu']
        if o['unit'] == 'fmac': fmac_free = t + o['ubusy']
        if o['unit'] == 'div': div_free = t + o['ubusy']
        cyc = t + o['issue']
        out.append((t, o['t']) if not keep else (t, o['t'], o))
    return out, cyc, dict(ready=ready, fmac=fmac_free, div=div_free, lsu=lsu_free)

def shift(state, L):
    return dict(ready={r: max(0, v - L) for r, v in state['ready'].items()}, fmac=max(0, state['fmac'] - L),
                div=max(0, state['div'] - L), lsu=max(0, state['lsu'] - L))

def loop_ops():
    # touch the line of quad g + 3 (two passes ahead) so its fill is done when it is read
    touch = [alu('cmp r1, #3', None, ['r1'], fw=True), op('ldrhs r11, [r0, #32]', {'r11': 3}, ['cpsr'], e=['r0'], lsu=1)]
    chk = touch + check_ops(False)
    store = op('vstr d6, [r0, #-24]', {'ST': 0}, ['s12', 's13'], e=['r0'], lsu=1)
    store['deferred'] = True
    chk = [store] + chk
    branch = op('bls 6f', {'BR': 1}, ['cpsr', 'ST'])
    q = q_ops(True)
    for i, o in enumerate(q): o['q'] = True; o['qi'] = i
    p = p_ops() + [alu('add r0, r0, #16', 'r0', ['r0']), alu('subs r1, r1, #1', 'r1', ['r1'], fw=True)]
    for o in p: o['s'].append('BR')
    return chk + [branch] + q + p

BONUS = {'q': 0, 'seed': None}
import random
def run_loop(iters=6):
    state = dict(ready={}, fmac=0, div=0, lsu=0)
    c0 = 0
    for it in range(iters):
        s0 = state
        ops = loop_ops()
        rnd = random.Random(BONUS['seed'])
        for o in ops:
            if o.get('q'): o['bonus'] = BONUS['q']
            if BONUS['seed'] is not None: o['bonus'] = o.get('bonus', 0) + rnd.randint(0, BONUS.get('noise', 10))
        o1, c1, s1 = schedule(ops, shift(s0, c0), keep=True)
        total = c0 + c1
        state = shift(s1, c1)
    return o1, total

if __name__ == '__main__':
    which = sys.argv[1] if len(sys.argv) > 1 else 'loop'
    if which == 'loop':
        o2, total = run_loop()
        for t, s, o in o2: print('        "%s",  // %d' % (s, t))
        print('        "bne 1b",')
        print('// %d cycles per quad' % total, file=sys.stderr)
    elif which == 'pro':
        o1, c1, s1 = schedule(check_ops(), {})
        o2, c2, _ = schedule(p_ops() + [alu('add r0, r0, #16', 'r0', ['r0']), alu('subs r1, r1, #1', 'r1', ['r1'], fw=True)], shift(s1, c1+1))
        for t, s in o1: print('        "%s",' % s)
        print('        "bls 9f",')
        for t, s in o2: print('        "%s",' % s)
        print('// %d + %d cycles' % (c1, c2), file=sys.stderr)
    elif which == 'tail':
        o, c, _ = schedule(q_ops(False), {})
        for t, s in o: print('        "%s",' % s)
        print('// %d cycles' % c, file=sys.stderr)

def consts():
    L = []
    def mk(reg, val):
        parts = [val & 0xff000000, val & 0x00ff0000, val & 0x0000ff00, val & 0x000000ff]
        first = True
        for p in parts:
            if p == 0 and not first: continue
            if first:
                L.append('mov %s, #%#x' % (reg, p)); first = False
            else:
                L.append('orr %s, %s, #%#x' % (reg, reg, p))
    for s, v in zip(range(25, 32), [0x3fb8aa3b, 0x3f317200, 0x35bfbe8e, 0xbb355215, 0x3e2aaa8f, 0x3f800000, 0x40000000]):
        mk('r12', v); L.append('vmov s%d, r12' % s)
    mk('r10', 0xbefffffd); mk('r12', 0x3f800000); mk('lr', 0x125d58a0)
    return L

def emit_all():
    out = []
    E = lambda s: out.append(s)
    E('cmp r1, #0'); E('moveq r0, #0'); E('bxeq lr')
    E('push {{r4-r11, lr}}'); E('vpush {{d8-d15}}'); E('sub sp, sp, #56'); E('str r1, [sp, #48]')
    E('cmp r1, #2'); E('ldrhs r11, [r0, #16]'); E('cmp r1, #3'); E('ldrhs r11, [r0, #32]')
    for l in consts(): E(l)
    o1, c1, s1 = schedule(check_ops(False), {})
    for _, s in o1: E(s)
    E('bls 9f')
    o2, c2, _ = schedule(p_ops() + [alu('add r0, r0, #16', 'r0', ['r0']), alu('subs r1, r1, #1', 'r1', ['r1'], fw=True)], shift(s1, c1 + 1))
    for _, s in o2: E(s)
    E('beq 8f')
    lo, total = run_loop()
    seen_branch = False; rest_q = []
    for t, txt, o in lo:
        if txt.startswith('bls'): seen_branch = True
        if seen_branch and o.get('q'): rest_q.append(o['qi'])
    for t, txt, o in lo:
        if not o.get('deferred'): E(txt)
    E('beq 4f')
    E('1:')
    for t, txt, o in lo: E(txt)
    E('bne 1b')
    E('4:')
    E('vstr d6, [r0, #-24]')
    E('8:')
    o3, c3, _ = schedule(q_ops(False), {})
    for _, txt in o3: E(txt)
    E('b 5f')
    E('6:')
    qq = [o for i, o in enumerate(q_ops(True)) if i in rest_q]
    assert len(qq) == len(rest_q)
    o4, c4, _ = schedule(qq + [op('vstr d6, [r0, #-8]', {}, ['s12', 's13'], e=['r0'], lsu=1)], {})
    for _, txt in o4: E(txt)
    E('5:')
    E('ldr r2, [sp, #48]'); E('sub r0, r2, r1')
    E('7:'); E('add sp, sp, #56'); E('vpop {{d8-d15}}'); E('pop {{r4-r11, pc}}')
    E('9:'); E('mov r0, #0'); E('b 7b')
    print('// loop %d cycles per quad; prologue %d; tail %d; stop tail %d' % (total, c1 + c2, c3, c4), file=sys.stderr)
    return out

if __name__ == '__main__' and len(sys.argv) > 1 and sys.argv[1] == 'all':
    for s in emit_all():
        print('        "%s",' % s)

if __name__ == '__main__' and len(sys.argv) > 1 and sys.argv[1] == 'search':
    # The tie-breaks are randomised: try seeds and bonuses, print each better loop found
    # (cycles per quad, bonus, seed, noise); then `BONUS.update(...)` + `all` emits that kernel.
    best = None
    for b in [20, 25, 30, 35, 40]:
        for noise in [5, 10, 15]:
            for seed in range(100, 160):
                BONUS.update(q=b, seed=seed, noise=noise)
                o, t = run_loop()
                if best is None or t < best[0]:
                    best = (t, b, seed, noise)
                    print(best, flush=True)
