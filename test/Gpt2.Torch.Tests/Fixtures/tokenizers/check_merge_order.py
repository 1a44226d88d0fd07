import json,sys
f=sys.argv[1]
c=json.load(open(f)); m=c['model']; vocab=m['vocab']
merges=[tuple(x.split(' ')) if isinstance(x,str) else tuple(x) for x in m['merges']]
mrank={p:i for i,p in enumerate(merges)}
print('merges',len(merges),'unique',len(mrank))
# monotonic: id of merged vs merge index
prev=-1; nonmono=0
firstid={}
for i,(a,b) in enumerate(merges):
    t=a+b
    if t not in firstid: firstid[t]=i
ids=[vocab[t] for t in sorted(firstid,key=firstid.get)]
print('merged ids monotonic in first-merge order:', all(ids[i]<ids[i+1] for i in range(len(ids)-1)))
# is merge rank order consistent with concat id order (all merges)?
bad=sum(1 for i in range(len(merges)-1) if vocab[merges[i][0]+merges[i][1]]>vocab[merges[i+1][0]+merges[i+1][1]])
print('merge order violations vs id of concat', bad)
def hf(word):
    w=list(word)
    while len(w)>1:
        best=None
        for i in range(len(w)-1):
            r=mrank.get((w[i],w[i+1]))
            if r is not None and (best is None or r<best[0]): best=(r,i)
        if best is None: break
        i=best[1]; w[i:i+2]=[w[i]+w[i+1]]
    return w
def tk(word):
    w=list(word)
    while len(w)>1:
        best=None
        for i in range(len(w)-1):
            r=vocab.get(w[i]+w[i+1])
            if r is not None and (best is None or r<best[0]): best=(r,i)
        if best is None: break
        i=best[1]; w[i:i+2]=[w[i]+w[i+1]]
    return w
unreach=0; diff=0; ex=[]
for t,i in vocab.items():
    if len(t)<2: continue
    h=hf(t); k=tk(t)
    if h!=[t]: unreach+=1; ex.append(('unreach',t,h)) if len(ex)<5 else None
    if h!=k: diff+=1; ex.append(('diff',t,h,k)) if len(ex)<10 else None
print('vocab tokens unreachable by merges',unreach,'hf!=tiktoken',diff)
for e in ex: print(e)
