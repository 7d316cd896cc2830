#!/usr/bin/env python3
"""Modulo-schedule search for the inner step of asm_batch_q5k (and asm_batch_q4k: the same
step): 8 SMLAD, 4 two-word LDM on lr!, the field-word LDR and the two ANDs, under the
ARM1176 cost-model timing (../shared/tools/README.md: LDM result to an Early multiplier
operand 4 slots, SMLAD accumulator chain 2, AND to SMLAD 2, written-back lr reaching the
next LDM a cycle late). Exhaustive DFS over slot assignments for a period P (argv[1]);
prints up to 20 schedules. P = 15 has none, P = 16 has (one slot free)."""
import sys
P = int(sys.argv[1]) if len(sys.argv) > 1 else 15
ops = ["S0a","S0b","S1a","S1b","S2a","S2b","S3a","S3b","LA0","LB1","LA2","LB3","W","A5","A6"]
extra = P - len(ops)
ops += ["N%d" % i for i in range(extra)]
# constraints: (x, y, lat, d): t[y] + P*d >= t[x] + lat
C = []
def c(x, y, lat, d=0): C.append((x, y, lat, d))
for s in ("S2a","S2b"): c("LA2", s, 4)
for s in ("S3a","S3b"): c("LB3", s, 4)
for s in ("S0a","S0b"): c("LA0", s, 4, 1)
for s in ("S1a","S1b"): c("LB1", s, 4, 1)
c("W","A5",3); c("W","A6",4)
for t in "0123":
    c("A5","S%sa"%t,2,1); c("A6","S%sb"%t,2,1)
    c("S%sa"%t,"A5",1); c("S%sb"%t,"A6",1)
for s in ("S0a","S0b"): c(s,"LA2",1)
for s in ("S1a","S1b"): c(s,"LB3",1)
for s in ("S2a","S2b"): c(s,"LA0",1)
for s in ("S3a","S3b"): c(s,"LB1",1)
c("A5","W",1,1); c("A6","W",1,1)
# acc chains: a then b (>=2), b then next a (>=2)
pass
ldms = ["LA0","LB1","LA2","LB3"]
def ok(t):
    for x,y,lat,d in C:
        if x in t and y in t and t[y] + P*d < t[x] + lat: return False
    for tk in "0123":
        a, b = "S%sa"%tk, "S%sb"%tk
        if a in t and b in t:
            d = (t[a]-t[b]) % P
            if d < 2 or d > P-2: return False
    used = {v:k for k,v in t.items()}
    for l in ldms:
        if l in t:
            for dd in (1, P-1):
                o = used.get((t[l]+dd) % P)
                if o in ldms: return False
    return True
sols = []
def dfs(t, slot):
    if slot == P:
        sols.append(dict(t)); return len(sols) >= 20
    for o in ops:
        if o in t: continue
        if o.startswith("N") and any(("N%d"%i) not in t for i in range(int(o[1:]))): continue
        t[o] = slot
        if ok(t) and dfs(t, slot+1): return True
        del t[o]
    return False
t = {"S0a": 0}
dfs(t, 1)
for s in sols[:5]:
    print(" ".join(k for k,v in sorted(s.items(), key=lambda kv: kv[1])))
print(len(sols))
