#ifndef BLOCK_RESOLVER_CLDNS_SHIM_H
#define BLOCK_RESOLVER_CLDNS_SHIM_H
#include <ldns/ldns.h>
#endif
