/*
 * proc: see proc.h.
 *
 * Where ps reads a command line: the kernel put argv's strings, then
 * environ's, one after another in a block of the process's memory, and
 * /proc/PID/cmdline shows that block.  To write a longer name than the
 * command itself, the strings are copied out to the heap first, and the
 * whole block becomes room for the name.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"

extern char **environ;

static char *room;		/* the block ps reads, once proc_name_init() ran */
static size_t room_len;
static char options[256];	/* the command line after argv[0], for the name */

bool proc_tie_to_parent(int sig, pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, sig);
	return getppid() == parent;	/* else it died before the tie */
}

/* The end of the block from argv[0]: each string that starts where the
 * previous one ended belongs to it. */
static char *block_end(int argc, char **argv)
{
	char *end = argv[0] + strlen(argv[0]) + 1;
	for (int i = 1; i < argc && argv[i] == end; i++)
		end += strlen(end) + 1;
	for (int i = 0; environ[i] && environ[i] == end; i++)
		end += strlen(end) + 1;
	return end;
}

/* Point s into the copy, if it points into the block. */
static void move_to_copy(char **s, char *start, char *end, char *copy)
{
	if (*s >= start && *s < end)
		*s = copy + (*s - start);
}

void proc_name_init(int argc, char **argv)
{
	if (room || argc < 1 || !argv[0])
		return;
	char *start = argv[0], *end = block_end(argc, argv);
	size_t used = 0;
	for (int i = 1; i < argc && used < sizeof options; i++)
		used += (size_t)snprintf(options + used, sizeof options - used, "%s%s",
					 i > 1 ? " " : "", argv[i]);
	/* A copy first, kept for good: nothing may point into the block once
	 * it is reused. */
	static char *copy;
	if (!(copy = malloc((size_t)(end - start))))
		return;
	memcpy(copy, start, (size_t)(end - start));
	for (int i = 0; i < argc; i++)
		move_to_copy(&argv[i], start, end, copy);
	for (int i = 0; environ[i]; i++)
		move_to_copy(&environ[i], start, end, copy);
	/* glibc's names for the program pointed into the block too */
	program_invocation_name = argv[0];
	program_invocation_short_name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1
							      : argv[0];
	room = start;
	room_len = (size_t)(end - start);
}

void proc_name(const char *role, const char *brief)
{
	char comm[16];
	snprintf(comm, sizeof comm, "%s: %s", program_invocation_short_name, brief);
	prctl(PR_SET_NAME, comm);
	if (!room)
		return;
	/* The name, and zeros for the rest of the block. */
	memset(room, 0, room_len);
	snprintf(room, room_len, *options ? "%s: %s [%s]" : "%s: %s%s",
		 program_invocation_short_name, role, options);
}

double proc_restart_at(double born)
{
	double t = now();
	return t - born < 1 ? t + 1 : t;
}
