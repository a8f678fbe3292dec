#!/bin/bash
# Regenerates the btree vectors with the REAL tools (Debian 12: sendmail-bin
# 8.17.1.9 makemap, libdb5.3 5.3.28, db5.3-util). The .db bytes differ on
# every run (random file id, stale bytes in free space): compare records,
# never bytes. NAME.dump.txt is `makemap -u btree NAME`.
set -eu
cd "$(dirname "$0")"
LC_ALL=C; export LC_ALL
SHARED=../../../../../shared/testdata/makemap
python3 gen-load.py "$SHARED/large.txt"
rm -f ./*.db ./*.dump.txt
mm() { name=$1; shift; makemap "$@" "$name" < "$input"; }
input=small.txt     mm small btree
input=mixed.txt     mm mixed btree
input=dups.txt      mm dups_d -d btree
input=manydup.txt   mm manydup_d -d btree
input=$SHARED/large.txt mm large btree
ld() { name=$1 in=$2; shift 2; db5.3_load -T -t btree "$@" "$name.db" < "$in"; }
ld large512 large.load -c db_pagesize=512
ld mixed_be mixed.load -c db_lorder=4321
ld mixed_chksum mixed.load -c chksum=1
ld overflow overflow.load
ld ovfl512 ovfl512.load -c db_pagesize=512
ld manydup512 manydup.load -c duplicates=1 -c db_pagesize=512
ld dupsort512 manydup.load -c dupsort=1 -c db_pagesize=512
ld ovfldup ovfldup.load -c duplicates=1
ld ovfldup512 ovfldup.load -c duplicates=1 -c db_pagesize=512
rm -f large.load ovfl512.load manydup.load ovfldup.load
for f in *.db; do
  n=${f%.db}
  db5.3_verify -q "$f"
  makemap -u btree "$n" > "$n.dump.txt"
done
chmod 0644 ./*.db
