# latency.gp: the slowest of c simultaneous /hello requests, against c, for
# the four labs, with the model's prediction as dashed lines.
#
#   gnuplot -e "dir='bench/results'; fmt='svg'; S=2.45; M=0.40" tools/latency.gp
#
# Both axes are logarithmic, so the sync labs' c*S is a straight line of
# slope one and the evented labs' S and M are flat: the two worker models
# part at c = 2 and never meet again.  Reads dir/summary.csv (bench.sh).

set datafile separator ','
if (fmt eq 'svg') {
	set terminal svg size 960,700 dynamic enhanced font 'Sans,13' background rgb 'white'
} else {
	if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
		set terminal pngcairo size 960,700 enhanced font 'Sans,12' background rgb 'white'
	} else {
		set terminal png size 960,700 enhanced background rgb 'white'
	}
}
set output dir.'/latency.'.fmt

set title sprintf("Slowest of c requests sent at once to GET /hello  (S = %.3g s, M = %.3g s)", S, M)
set xlabel 'requests sent at once (c)'
set ylabel 'slowest answer (s)'
set logscale xy
set xrange [0.8:1300]
set yrange [M/2:*]
set xtics (1, 2, 4, 8, 16, 64, 256, 1000)
set grid xtics ytics mytics lc rgb '#dddddd'
set key at screen 0.5, screen 0.01 center bottom maxrows 4 width 2
set bmargin 9

# one colour a lab; the model lines share their lab's colour, dashed
sync1 = '#d62728'; sync2 = '#ff7f0e'; ev3 = '#1f77b4'; ev4 = '#2ca02c'
f = dir.'/summary.csv'
lab(name, col) = strcol(1) eq name ? column(col) : NaN

plot \
	f skip 1 using 2:(lab('lab1', 6)) with linespoints lw 2 pt 7 ps 1.2 lc rgb sync1 \
		title 'lab1  sync worker, sequential', \
	f skip 1 using 2:(lab('lab2', 6)) with linespoints lw 2 pt 4 ps 1.5 lc rgb sync2 \
		title 'lab2  sync worker, fibers', \
	f skip 1 using 2:(lab('lab3', 6)) with linespoints lw 2 pt 9 ps 1.4 lc rgb ev3 \
		title 'lab3  evented worker, sequential', \
	f skip 1 using 2:(lab('lab4', 6)) with linespoints lw 2 pt 5 ps 1.2 lc rgb ev4 \
		title 'lab4  evented worker, fibers', \
	[1:16] x * S with lines dt 2 lw 1.5 lc rgb sync1 title 'model, labs 1-2: c·S', \
	[1:1000] S with lines dt 2 lw 1.5 lc rgb ev3 title 'model, lab 3: S', \
	[1:1000] M with lines dt 2 lw 1.5 lc rgb ev4 title 'model, lab 4: M'
