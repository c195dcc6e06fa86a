/* Fixture: types only; including it is no edge. */
#ifndef FIXTURE_MEM_POOL_T_H
#define FIXTURE_MEM_POOL_T_H

struct pool {
	int used;
};

#endif
