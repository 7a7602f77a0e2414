# SPDX-License-Identifier: MIT
# flood_timeline.gp — pending objects and pointer pages in use during the million-op flood,
# rcufree (default config), rcufree with reclaim_local() every 4096 calls, and liburcu call_rcu,
# from the harness's timeline CSVs.
#   gnuplot -e "dir='build/bench/results'; out='docs/img/flood_timeline.png'" \
#           bench/plot/flood_timeline.gp
if (!exists("dir")) dir = 'build/bench/results'
if (!exists("out")) out = 'docs/img/flood_timeline.png'
set terminal pngcairo size 1100,1000 font 'DejaVu Sans,11'
set output out
set datafile separator ','
set multiplot layout 2,1 title "1,000,000 x 64 B: malloc + retire, then the final barrier (sampled every 100 us)"
set grid
set xlabel 'time since the flood started (ms)' offset 0,0.7
set ylabel 'pending objects (queued, not yet freed)'
set y2label 'rcufree pointer pages in use'
set format y '%.0s%c'
set ytics nomirror
set y2tics
set key below horizontal maxcols 2 box width 1 height 0.5
do for [t in "1 2"] {
  set title sprintf("%s producer thread%s", t, t eq "1" ? "" : "s")
  plot dir.'/timeline_rcufree_'.t.'t.csv' skip 2 using 1:2 with lines lw 2 lc rgb '#1f77b4' \
         title 'rcufree, default: pending objects', \
       dir.'/timeline_rcufree_local_'.t.'t.csv' skip 2 using 1:2 with lines lw 2 lc rgb '#9467bd' \
         title 'rcufree + reclaim\_local() per 4096 calls: pending', \
       dir.'/timeline_call_rcu_'.t.'t.csv' skip 2 using 1:2 with lines lw 2 lc rgb '#d62728' \
         title 'call\_rcu: pending objects', \
       dir.'/timeline_rcufree_'.t.'t.csv' skip 2 using 1:3 axes x1y2 with steps lw 1.5 \
         lc rgb '#2ca02c' title 'rcufree, default: pages in use (right axis)'
}
unset multiplot
