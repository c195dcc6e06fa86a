#ifndef FIXTURE_LB_LB_H
#define FIXTURE_LB_LB_H

int lb_pick(int n);

#endif
