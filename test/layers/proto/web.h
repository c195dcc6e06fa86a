#ifndef FIXTURE_PROTO_WEB_H
#define FIXTURE_PROTO_WEB_H

int web_serve(int n);

#endif
