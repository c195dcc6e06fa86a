#ifndef FIXTURE_MEM_ACCT_H
#define FIXTURE_MEM_ACCT_H

void acct_charge(int n);

#endif
