# put-back.awk: a file of the handout with its TODO stubs replaced by the
# reference's solution regions, in order -- every one, or every one but
# task KEEP's, whose TODO and stub stay (tools/handout-selftest.sh and
# tools/handout-stubs.sh use it).
#
#   awk [-v keep=TASK] -f tools/put-back.awk REFERENCE_FILE HANDOUT_FILE
FNR == NR {		# the reference: its regions, in order
	if ($0 ~ /^[ \t]*\/\* \$begin /) { r++; n[r] = 0; inside = 1; next }
	if ($0 ~ /^[ \t]*\/\* \$end /) { stub[r] = $0 ~ /; stub: /; inside = 0; next }
	if (inside) line[r, ++n[r]] = $0
	next
}
skip { skip = 0; next }		# the stub under a TODO put back
/^[ \t]*\/\* TODO\([a-z0-9-]+\): / {
	k++
	task = $0; sub(/.*TODO\(/, "", task); sub(/\).*/, "", task)
	if (task == keep) { print; next }
	for (i = 1; i <= n[k]; i++) print line[k, i]
	skip = stub[k]
	next
}
{ print }
