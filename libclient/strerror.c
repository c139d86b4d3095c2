#include <string.h>

#include "msgr.h"

const char *msgr_strerror(int err)
{
	const char *s;

	if (err == 0)
		return "Success";
	if (err > 0)
		err = -err;
	/* strerrordesc_np is thread-safe and never formats into a buffer */
	s = strerrordesc_np(-err);
	return s ? s : "Unknown error";
}
