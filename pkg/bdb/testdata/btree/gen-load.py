#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes the db5.3_load -T inputs (key line, value line, ...) that regen.sh
# feeds to the real db5.3_load for cases makemap cannot make.
import random

def write(name, recs):
    with open(name, 'wb') as f:
        for k, v in recs:
            f.write(k + b'\n' + v + b'\n')

# large.load: the first 1500 records of ../../../../../shared/testdata/makemap/large.txt
# as makemap stores them (key lower-cased), in input order.
def large(src):
    recs = []
    for line in open(src, 'rb'):
        line = line.rstrip(b'\n')
        if not line or line.startswith(b'#'):
            continue
        k, _, v = line.partition(b'\t')
        recs.append((k.lower(), v.lstrip(b'\t ')))
    return recs

r = random.Random(2)
# ovfl512: long keys and values at 512-byte pages (overflow threshold 111),
# so overflow keys reach internal pages.
ovfl = []
for i in range(120):
    kl = r.choice([8, 40, 110, 111, 112, 200, 700])
    k = (b'key%04d.' % i + b'k' * kl)[:max(kl, 8)]
    vl = r.choice([1, 50, 103, 104, 500, 1300])
    v = (b'val%04d:' % i + bytes(r.choice(b'abcdefgh') for _ in range(vl)))
    ovfl.append((k, v))
write('ovfl512.load', ovfl)

# manydup.load: 400 values under one key plus neighbours.
md = [(b'a.example', b'before')]
md += [(b'manydup.example', b'value-%04d' % i) for i in range(400)]
md += [(b'z.example', b'after')]
write('manydup.load', md)

# ovfldup.load: duplicate sets whose values overflow, on and off page.
od = []
for i in range(6):
    od.append((b'big.example', (b'%d:' % i) + b'v' * (900 + 150 * i)))
for i in range(3):
    od.append((b'small.example', b'x' * (1100 * (i + 1))))
od.append((b'single.example', b'y' * 5000))
write('ovfldup.load', od)

import sys
write('large.load', large(sys.argv[1])[:1500])
