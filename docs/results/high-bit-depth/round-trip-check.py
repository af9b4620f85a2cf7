# Summarises the round-trip files beside it: cases, failures, and whether each
# setting gave one MD5 across kernel levels and thread counts.
import re,sys,glob,collections,os
here=os.path.dirname(os.path.abspath(__file__))
groups=collections.defaultdict(set); n=0; fails=0
for f in sorted(glob.glob(os.path.join(here,'round-trip-*.txt'))):
    if f.endswith('summary.txt'): continue
    for line in open(f):
        if line.startswith('FAIL'): fails+=1
        if not line.startswith('ok'): continue
        n+=1
        m=re.match(r'ok\s+(\S+) qp (\S+)( bit-depth (\d+))?( cpu (\S+))? (\S+) (\S+) threads (\d+) .* md5 (\S+)',line)
        src,qp,_,bd,_,cpu,preset,gop,thr,md5=m.groups()
        groups[(src,qp,bd,preset,gop if 'still' not in src else 'any')].add(md5)
bad=[k for k,v in groups.items() if len(v)>1]
print(f"{n} cases ok, {fails} failed; {len(groups)} settings, {len(bad)} with differing MD5 across kernel levels and thread counts")
for k in bad[:5]: print(k, groups[k])
