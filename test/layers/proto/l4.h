#ifndef FIXTURE_PROTO_L4_H
#define FIXTURE_PROTO_L4_H

int l4_serve(int n);

#endif
