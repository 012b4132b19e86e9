#!/usr/bin/env python3
"""Per-round ratios of a `scripts/bench-peers` run against another kraftd (PEER_KRAFTD).

Reads the round reports bench-peers writes to stderr (one or more files) and prints, for each
measurement, the median over all rounds of (this build / base) taken round by round, with the
spread. Pairing each round with its neighbour cancels much of this machine's load and memory
noise that separate medians keep (docs/performance.md).

    ./scripts/bench-peers 2> run1.err; ./scripts/bench-peers 2> run2.err
    python3 scripts/bench-ratios.py run1.err run2.err
"""
import re,sys,statistics
def parse(path):
    rounds=[]; cur=None
    for line in open(path):
        m=re.match(r"== round (\d+): (\w+)",line)
        if m: cur={'server':m.group(2),'round':int(m.group(1)),'vals':[]}; rounds.append(cur); continue
        if cur is None: continue
        m=re.search(r"([0-9.]+) MB/s",line)
        if line.startswith("produce:") or line.startswith("consume:"):
            cur['vals'].append(('mbs',line.split(':')[0], 'paced' in line, 'acks=all' in line, float(m.group(1))))
        m2=re.match(r"(ack latency|end-to-end latency) ms: p50 [0-9.]+, p99 ([0-9.]+)",line)
        if m2: cur['vals'].append(('p99',m2.group(1),None,None,float(m2.group(2))))
    return rounds
names=['acks1 MB/s','acks1 p99','acksall MB/s','acksall p99','consume MB/s','paced MB/s','paced p99','e2e MB/s','e2e p99']
allr={n:[] for n in names}
for path in sys.argv[1:]:
    r=parse(path)
    k=[x for x in r if x['server']=='kraftd']; b=[x for x in r if x['server']=='base']
    for a,c in zip(k,b):
        va=[v[4] for v in a['vals']]; vb=[v[4] for v in c['vals']]
        for i,n in enumerate(names):
            if i<len(va) and i<len(vb) and vb[i]: allr[n].append(va[i]/vb[i])
for n in names:
    v=allr[n]
    if v: print(f"{n:18s} median ratio {statistics.median(v):.2f}  (n={len(v)}, min {min(v):.2f}, max {max(v):.2f})")
