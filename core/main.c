/* Placeholder until the event loop lands. */
#include <stdio.h>
int main(void)
{
	fprintf(stderr, "ringlb: not built yet\n");
	return 1;
}
