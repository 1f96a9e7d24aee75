/* The monotonic wall clock every timing in khsim reads. */
#ifndef KH_CLOCK_H
#define KH_CLOCK_H

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds of CLOCK_MONOTONIC: differences are wall time. */
double kh_wall_seconds(void);

#ifdef __cplusplus
}
#endif
#endif
