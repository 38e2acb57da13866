# timeline.gp: four requests sent at once to each lab, one bar a request
# from when it was sent to when its answer came.
#
#   gnuplot -e "dir='bench/results'; fmt='svg'; S=2.45; M=0.40" tools/timeline.gp
#
# One panel a lab, all on the same time axis, so the sync labs' staircase
# (S, 2S, 3S, 4S) stands over the evented labs' overlap (all at S, or all
# at M).  Reads dir/labN-c4.csv as written by labload --csv; with
# -e python=1, dir/gunicorn-caseN-c4.csv and writes timeline-python.*.

set datafile separator ','
if (fmt eq 'svg') {
	set terminal svg size 960,720 dynamic enhanced font 'Sans,13' background rgb 'white'
} else {
	if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
		set terminal pngcairo size 960,720 enhanced font 'Sans,12' background rgb 'white'
	} else {
		set terminal png size 960,720 enhanced background rgb 'white'
	}
}

# python=1 (tools/bench-python.sh): the note's four cases under gunicorn
if (!exists('python')) { python = 0 }
if (python) {
	set output dir.'/timeline-python.'.fmt
	labs = 'gunicorn-case1 gunicorn-case2 gunicorn-case3 gunicorn-case4'
	names = "'case 1: gunicorn -w 1, sync\\_download' \
'case 2: gunicorn -w 1, async\\_download' \
'case 3: gunicorn -k gevent, sync\\_download' \
'case 4: gunicorn -k gevent, async\\_download'"
	heading = 'The note under gunicorn: four requests sent at once'
} else {
	set output dir.'/timeline.'.fmt
	labs = 'lab1 lab2 lab3 lab4'
	names = "'lab1: sync worker, sequential downloads' \
'lab2: sync worker, one fiber per download' \
'lab3: evented worker, sequential downloads' \
'lab4: evented worker, one fiber per download'"
	heading = 'Four requests sent at once: when each was answered'
}
colours = '#d62728 #ff7f0e #1f77b4 #2ca02c'

set xrange [0:4.6 * S]
set yrange [0.4:5.3]
set ytics ('req 1' 1, 'req 2' 2, 'req 3' 3, 'req 4' 4)
# the model's marks in every panel: multiples of S for the staircase, M
# for lab 4; dashed, behind the bars
marks = 'M S 2S 3S 4S'
at(k) = k == 1 ? M : (k - 1) * S
do for [k = 1:5] {
	set arrow k from at(k), graph 0 to at(k), first 4.55 nohead dt 2 lc rgb '#999999' back
	set label k word(marks, k) at at(k), 4.9 center font ',10' tc rgb '#666666'
}
set key off
set style fill solid 0.85 noborder

set multiplot layout 4,1 \
	title sprintf("%s  (S = %.3g s, M = %.3g s)", heading, S, M) \
	margins 0.1,0.96,0.09,0.9 spacing 0,0.075
do for [i = 1:4] {
	set title word(names, i) offset 0,-0.5
	if (i == 4) { set xlabel 'seconds since the first request was sent'; set xtics format '%g' } \
	else { unset xlabel; set xtics format '' }
	plot dir.'/'.word(labs, i).'-c4.csv' skip 1 \
		using (($2 + $3) / 2):($1 + 1):2:3:($1 + 0.7):($1 + 1.3) \
		with boxxyerror lc rgb word(colours, i), \
	     '' skip 1 using 3:($1 + 1):(sprintf(' %.2f s', $4)) with labels left font ',10'
}
unset multiplot
