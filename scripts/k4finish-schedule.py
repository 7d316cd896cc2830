#!/usr/bin/env python3
"""The instruction order of one group of core/src/kernels/arm/asm_k4finish.rs's routines.

Lists the operations of a group (six Q4_K-style blocks: rows of 2 or 3 blocks; or eight
Q6_K-style blocks: rows of 2) with their register dependencies, and orders them with a
greedy list scheduler (earliest issue cycle under the ARM1176 timing of
the cost model README in ../shared/tools, ties to the longest path to the group's end). Prints each
group's body as the string lines pasted into the routines, with the modelled cycles.
Usage: scripts/k4finish-schedule.py {2|3|so}
"""
import sys

# ops: (text, dst{reg:lat}, src[], early[], lsu)
def alu(t, d, s=(), e=()): return dict(t=t, d={x:1 for x in d}, s=list(s), e=list(e), lsu=0, vfp=False)
def block_ops(b, nb):
    R = ['r4','r5','r6','r7'] if b%2==0 else ['r8','r10','r12','lr']
    dd, d, m, c = R
    base = 8+4*b; k = b % nb
    S = lambda i: 's%d'%(base+i)
    ops = []
    ops.append(dict(t='ldr %s, [r1, #%d]'%(dd, 8+12*b), d={dd:3}, s=[], e=['r1'], lsu=1))
    ops.append(dict(t='vldmia r0!, {{%s-%s}}'%(S(0),S(2)), d={S(0):4,S(1):5,S(2):5,'r0':1}, s=[], e=['r0'], lsu=2))
    ops += [alu('mov %s, %s, lsl #16'%(d,dd),[d],[],[dd]), alu('mov %s, %s, asr #16'%(m,dd),[m],[],[dd]),
            alu('mov %s, %s, asr #3'%(d,d),[d],[],[d]), alu('mov %s, %s, lsl #13'%(m,m),[m],[],[m]),
            alu('bic %s, %s, #0x70000000'%(d,d),[d],[d]), alu('bic %s, %s, #0x70000000'%(m,m),[m],[m]),
            alu('add %s, %s, #0x38000000'%(d,d),[d],[d]), alu('add %s, %s, #0x38000000'%(m,m),[m],[m])]
    ops.append(dict(t='vmov d%d, %s, %s'%(base//2+1, d, m), d={S(2):4,S(3):4}, s=[d,m,S(2)], e=[], lsu=0))
    ops += [alu('and %s, %s, r11'%(c,dd),[c],[dd,'r11']), alu('add %s, %s, r9'%(c,c),[c],[c,'r9'])]
    if b == 0: ops.append(alu('tst %s, #0x7800'%c,['cpsr'],[c]))
    else: ops.append(alu('tstne %s, #0x7800'%c,['cpsr'],[c,'cpsr']))
    ops.append(alu('tstne %s, #0x78000000'%c,['cpsr'],[c,'cpsr']))
    v = lambda t,dst,srcs: dict(t=t, d={dst:8}, s=srcs, e=[], lsu=0)
    ops.append(v('vcvt.f32.s32 %s, %s'%(S(0),S(0)), S(0), [S(0)]))
    ops.append(v('vcvt.f32.s32 %s, %s'%(S(1),S(1)), S(1), [S(1)]))
    ops.append(v('vmul.f32 %s, %s, s%d'%(S(2),S(2),k), S(2), [S(2),'s%d'%k]))
    ops.append(v('vmul.f32 %s, %s, s%d'%(S(3),S(3),k), S(3), [S(3),'s%d'%k]))
    ops.append(v('vmul.f32 %s, %s, %s'%(S(0),S(2),S(0)), S(0), [S(2),S(0)]))
    ops.append(v('vmul.f32 %s, %s, %s'%(S(1),S(3),S(1)), S(1), [S(3),S(1)]))
    ops.append(v('vsub.f32 %s, %s, %s'%(S(0),S(0),S(1)), S(0), [S(0),S(1)]))
    return ops
def group(nb):
    ops = []
    for b in range(6): ops += block_ops(b, nb)
    v = lambda t,dst,srcs: dict(t=t, d={dst:8}, s=srcs, e=[], lsu=0)
    g = lambda b: 's%d'%(8+4*b)
    if nb == 2:
        for r in range(3):
            ops.append(v('vadd.f32 s%d, %s, %s'%(4+r,g(2*r),g(2*r+1)), 's%d'%(4+r), [g(2*r),g(2*r+1)]))
            ops.append(v('vadd.f32 s%d, s%d, s3'%(4+r,4+r), 's%d'%(4+r), ['s%d'%(4+r),'s3']))
        ops.append(dict(t='vstmia r3!, {{s4-s6}}', d={'r3':1}, s=['s4','s5','s6'], e=['r3'], lsu=2))
    else:
        for r in range(2):
            t, u = 4+r, 6+r
            ops.append(v('vadd.f32 s%d, %s, %s'%(t,g(3*r),g(3*r+1)), 's%d'%t, [g(3*r),g(3*r+1)]))
            ops.append(v('vadd.f32 s%d, %s, s3'%(u,g(3*r+2)), 's%d'%u, [g(3*r+2),'s3']))
            ops.append(v('vadd.f32 s%d, s%d, s%d'%(t,t,u), 's%d'%t, ['s%d'%t,'s%d'%u]))
        ops.append(dict(t='vstmia r3!, {{s4-s5}}', d={'r3':1}, s=['s4','s5'], e=['r3'], lsu=1))
    ops.append(alu('moveq r5, #0',['r5'],['cpsr']))
    ops.append(dict(t='streq r5, [sp]', d={}, s=['cpsr','r5'], e=['sp'], lsu=1))
    ops.append(alu('add r1, r1, #72',['r1'],['r1']))
    for o in ops:
        o.setdefault('vfp', False)
    return ops
def schedule(ops):
    n = len(ops)
    # deps: for each op j, earlier ops i with RAW/WAR/WAW
    deps = [[] for _ in range(n)]
    for j in range(n):
        rj = set(ops[j]['s'])|set(ops[j]['e']); wj = set(ops[j]['d'])
        for i in range(j):
            ri = set(ops[i]['s'])|set(ops[i]['e']); wi = set(ops[i]['d'])
            if wi & rj: deps[j].append((i,'raw'))
            elif wi & wj: deps[j].append((i,'waw'))
            elif ri & wj: deps[j].append((i,'war'))
    h = [0]*n
    for j in range(n-1, -1, -1):
        lat = max(list(ops[j]['d'].values())+[1])
        succ = [k for k in range(j+1,n) if any(i==j for i,_ in deps[k])]
        h[j] = lat + max([h[k] for k in succ]+[0])
    issued = {}; ready = {}  # reg -> cycle
    cyc = 0; lsu_free = 0; out = []
    done = set()
    while len(done) < n:
        best = None
        for j in range(n):
            if j in done: continue
            if any(i not in done for i,_ in deps[j]): continue
            t = cyc
            for r in ops[j]['s']: t = max(t, ready.get(r,0))
            for r in ops[j]['e']: t = max(t, ready.get(r,0)+1)
            if ops[j]['lsu']: t = max(t, lsu_free)
            for i,kind in deps[j]:
                if kind=='war': t = max(t, issued[i]+1)
                if kind=='waw': t = max(t, issued[i]+1)
            if best is None or (t, -h[j]) < (best[0], -h[best[1]]): best = (t, j)
        t, j = best
        issued[j] = t; done.add(j)
        for r,l in ops[j]['d'].items(): ready[r] = max(ready.get(r,0), t+l)
        if ops[j]['lsu']: lsu_free = t + ops[j]['lsu']
        cyc = t + 1
        out.append((t, ops[j]['t']))
    return out, cyc

def block_ops_so(b):
    R = ['r4','r5','r6'] if b%2==0 else ['r8','r10','r12']
    dd, d, c = R
    base = 8+2*b; k = b % 2
    S = lambda i: 's%d'%(base+i)
    ops = []
    ops.append(dict(t='ldr %s, [r1, #%d]'%(dd, 4+8*b), d={dd:3}, s=[], e=['r1'], lsu=1))
    ops.append(dict(t='vldmia r0!, {{%s-%s}}'%(S(0),S(1)), d={S(0):4,S(1):5,'r0':1}, s=[], e=['r0'], lsu=1))
    ops += [alu('mov %s, %s, lsl #16'%(d,dd),[d],[],[dd]), alu('mov %s, %s, asr #3'%(d,d),[d],[],[d]),
            alu('bic %s, %s, #0x70000000'%(d,d),[d],[d]), alu('add %s, %s, #0x38000000'%(d,d),[d],[d])]
    ops.append(dict(t='vmov %s, %s'%(S(1), d), d={S(1):4}, s=[d,S(1)], e=[], lsu=0))
    ops += [alu('and %s, %s, #0x7c00'%(c,dd),[c],[dd]), alu('add %s, %s, #0x400'%(c,c),[c],[c])]
    if b == 0: ops.append(alu('tst %s, #0x7800'%c,['cpsr'],[c]))
    else: ops.append(alu('tstne %s, #0x7800'%c,['cpsr'],[c,'cpsr']))
    v = lambda t,dst,srcs: dict(t=t, d={dst:8}, s=srcs, e=[], lsu=0)
    ops.append(v('vcvt.f32.s32 %s, %s'%(S(0),S(0)), S(0), [S(0)]))
    ops.append(v('vmul.f32 %s, %s, s%d'%(S(1),S(1),k), S(1), [S(1),'s%d'%k]))
    ops.append(v('vmul.f32 %s, %s, %s'%(S(0),S(1),S(0)), S(0), [S(1),S(0)]))
    return ops
def group_so():
    ops = []
    for b in range(8): ops += block_ops_so(b)
    v = lambda t,dst,srcs: dict(t=t, d={dst:8}, s=srcs, e=[], lsu=0)
    g = lambda b: 's%d'%(8+2*b)
    for r in range(4):
        ops.append(v('vadd.f32 %s, %s, %s'%(g(2*r),g(2*r),g(2*r+1)), g(2*r), [g(2*r),g(2*r+1)]))
        ops.append(v('vadd.f32 s%d, %s, s3'%(4+r, g(2*r)), 's%d'%(4+r), [g(2*r),'s3']))
    ops.append(dict(t='vstmia r3!, {{s4-s7}}', d={'r3':1}, s=['s4','s5','s6','s7'], e=['r3'], lsu=2))
    ops.append(alu('moveq r5, #0',['r5'],['cpsr']))
    ops.append(dict(t='streq r5, [sp]', d={}, s=['cpsr','r5'], e=['sp'], lsu=1))
    ops.append(alu('add r1, r1, #64',['r1'],['r1']))
    return ops

def body(ops):
    out, c = schedule(ops)
    return c, "\n".join('        "%s",' % t for _, t in out)

if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "2"
    c, text = body(group_so() if which == "so" else group(int(which)))
    print(text)
    print("// %d cycles" % c, file=sys.stderr)
