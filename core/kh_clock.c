/* The monotonic wall clock (kh_clock.h). */
#include "core/kh_clock.h"

#include <time.h>

double kh_wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
