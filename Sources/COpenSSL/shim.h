#ifndef CA_COPENSSL_SHIM_H
#define CA_COPENSSL_SHIM_H
/* OpenSSL 3 only: hide every API deprecated in 3.0 from Swift. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1
#include <openssl/opensslv.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>

/* Macros Swift cannot import, forwarded one-to-one. No logic lives here. */
static inline long ca_BIO_get_mem_data(BIO *b, char **out) { return BIO_get_mem_data(b, out); }
static inline void ca_OPENSSL_free(void *p) { OPENSSL_free(p); }
static inline int ca_EVP_PKEY_KEYPAIR(void) { return EVP_PKEY_KEYPAIR; }
static inline void *ca_OPENSSL_malloc(size_t n) { return OPENSSL_malloc(n); }
static inline long ca_SSL_set_tlsext_host_name(SSL *s, const char *name) { return SSL_set_tlsext_host_name(s, name); }
static inline int ca_SSL_CTX_set_min_proto_version(SSL_CTX *c, int v) { return (int)SSL_CTX_set_min_proto_version(c, v); }
static inline int ca_sk_X509_num(const STACK_OF(X509) *sk) { return sk_X509_num(sk); }
static inline X509 *ca_sk_X509_value(const STACK_OF(X509) *sk, int i) { return sk_X509_value(sk, i); }

static inline STACK_OF(X509) *ca_sk_X509_new_null(void) { return sk_X509_new_null(); }
static inline int ca_sk_X509_push(STACK_OF(X509) *sk, X509 *x) { return sk_X509_push(sk, x); }
static inline void ca_sk_X509_pop_free(STACK_OF(X509) *sk) { sk_X509_pop_free(sk, X509_free); }

static inline GENERAL_NAMES *ca_sk_GENERAL_NAME_new_null(void) { return sk_GENERAL_NAME_new_null(); }
static inline int ca_sk_GENERAL_NAME_push(GENERAL_NAMES *sk, GENERAL_NAME *n) { return sk_GENERAL_NAME_push(sk, n); }
static inline int ca_sk_GENERAL_NAME_num(const GENERAL_NAMES *sk) { return sk_GENERAL_NAME_num(sk); }
static inline GENERAL_NAME *ca_sk_GENERAL_NAME_value(const GENERAL_NAMES *sk, int i) { return sk_GENERAL_NAME_value(sk, i); }
static inline void ca_GENERAL_NAMES_free(GENERAL_NAMES *sk) { GENERAL_NAMES_free(sk); }

static inline STACK_OF(X509_EXTENSION) *ca_sk_X509_EXTENSION_new_null(void) { return sk_X509_EXTENSION_new_null(); }
static inline int ca_sk_X509_EXTENSION_push(STACK_OF(X509_EXTENSION) *sk, X509_EXTENSION *e) { return sk_X509_EXTENSION_push(sk, e); }
static inline int ca_sk_X509_EXTENSION_num(const STACK_OF(X509_EXTENSION) *sk) { return sk_X509_EXTENSION_num(sk); }
static inline X509_EXTENSION *ca_sk_X509_EXTENSION_value(const STACK_OF(X509_EXTENSION) *sk, int i) { return sk_X509_EXTENSION_value(sk, i); }
static inline void ca_sk_X509_EXTENSION_pop_free(STACK_OF(X509_EXTENSION) *sk) { sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free); }
static inline int ca_sk_ASN1_OBJECT_num(const STACK_OF(ASN1_OBJECT) *sk) { return sk_ASN1_OBJECT_num(sk); }
static inline ASN1_OBJECT *ca_sk_ASN1_OBJECT_value(const STACK_OF(ASN1_OBJECT) *sk, int i) { return sk_ASN1_OBJECT_value(sk, i); }

static inline STACK_OF(X509_REVOKED) *ca_X509_CRL_revoked(X509_CRL *c) { return X509_CRL_get_REVOKED(c); }
static inline int ca_sk_X509_REVOKED_num(const STACK_OF(X509_REVOKED) *sk) { return sk_X509_REVOKED_num(sk); }
static inline X509_REVOKED *ca_sk_X509_REVOKED_value(const STACK_OF(X509_REVOKED) *sk, int i) { return sk_X509_REVOKED_value(sk, i); }

static const unsigned long CA_XN_FLAG_RFC2253 = XN_FLAG_RFC2253;
/// RFC 2253 with UTF-8 left as UTF-8 (a CA named "Réplication" prints as typed, not as \\C3\\A9).
static const unsigned long CA_XN_FLAG_RFC2253_UTF8 = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
#endif
