#include "base/log.h"
#include "proto/l4.h"
#include "proto/web.h"

int main(void)
{
	log_msg("fixture");
	return l4_serve(2) + web_serve(1) > 100;
}
