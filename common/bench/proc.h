/*
 * proc: the kit's processes -- a lab, its master and workers, the
 * upstream's keeper and simulator, the database's keeper -- tied to the
 * process that started them, and named so that ps and top tell them apart.
 *
 * proc_tie_to_parent() is called first thing in a child: the kernel sends
 * it sig when its parent dies, so nothing the kit starts outlives it.
 *
 * proc_name() names this process the way gunicorn's setproctitle does:
 * `ps -o comm` shows "lab1: worker", `ps -f` shows "lab1: worker [-w 2]"
 * (the command line's options after the role).  The longer form needs
 * proc_name_init() to have run first in main(); without it only the short
 * one changes.
 */
#ifndef PROC_H
#define PROC_H

#include <stdbool.h>
#include <sys/types.h>

/* In a child: die by sig when the parent dies.  False when the parent
 * (pid parent) is gone already -- before the tie was made -- and the child
 * should end at once. */
bool proc_tie_to_parent(int sig, pid_t parent);

/* Make room to rename this process: copies argv's and environ's strings
 * elsewhere (argv and environ then point to the copies, so the caller
 * may go on using them) and keeps the memory they were in, which is what
 * ps reads.  Once, at the start of main(), before anything keeps a pointer
 * into the environment. */
void proc_name_init(int argc, char **argv);

/* Name this process "PROG: role" (PROG: the program's file name).  brief,
 * at most 9 characters, is the role in `ps -o comm` (which keeps 15);
 * role, in `ps -f`, may be longer.  Threads started later inherit it. */
void proc_name(const char *role, const char *brief);

/* When a child that lived from `born` to now may be started again: a
 * second from now if it lived less than a second, so that one that dies
 * at start is not restarted in a tight loop; otherwise now.  now() time. */
double proc_restart_at(double born);

#endif
