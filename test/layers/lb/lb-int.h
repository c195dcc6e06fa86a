/* Fixture: the family header of lb.c and lb_*.c (no module's). */
#ifndef FIXTURE_LB_LB_INT_H
#define FIXTURE_LB_LB_INT_H

int lb_rr_pick(int n);

#endif
