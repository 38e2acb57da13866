/* labload: placeholder until the load client lands. */
#include <stdio.h>
int main(void)
{
	fprintf(stderr, "labload: not written yet\n");
	return 2;
}
