# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# bench/server_latency.gp: the CDFs of /ping latency written by bench/server_load.sh.
#   gnuplot -e "dir='DATA'; out='PNG'; inline_stats='...'; offloaded_stats='...'; \
#               nice0_stats='...'; subtitle='...'" bench/server_latency.gp
# DATA holds inline.cdf, offloaded.cdf and offloaded_nice0.cdf (latency in ms, cumulative fraction).
set terminal pngcairo size 960,620 font "sans,10"
set output out
set title "hash\\_server: GET /ping latency while POST /hash is hammered\n{/*0.85 ".subtitle."}"
set logscale x 10
set format x "%g"
set xlabel "/ping latency, ms (log scale)"
set ylabel "fraction of pings answered within"
set yrange [0:1.0]
set ytics 0.1
set grid xtics mxtics ytics
set key outside below center vertical Left reverse
set bmargin 8
set arrow from graph 0, first 0.99 to graph 1, first 0.99 nohead dashtype 2 lc rgb "gray40"
set label "p99" at graph 0.005, first 0.965 textcolor rgb "gray40"
set label "p50" at graph 0.005, first 0.475 textcolor rgb "gray40"
set arrow from graph 0, first 0.5 to graph 1, first 0.5 nohead dashtype 2 lc rgb "gray70"
plot dir."/inline.cdf" using 1:2 with steps lw 2 lc rgb "#c0392b" \
         title "inline: digest on the I/O thread (".inline_stats.")", \
     dir."/offloaded.cdf" using 1:2 with steps lw 2 lc rgb "#2471a3" \
         title "offloaded: co\\_await async\\_run(pool, ...) (".offloaded_stats.")", \
     dir."/offloaded_nice0.cdf" using 1:2 with steps lw 1.5 lc rgb "#27ae60" \
         title "offloaded, workers at nice 0 (".nice0_stats.")"
