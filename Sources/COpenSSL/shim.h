// COpenSSL: the message-digest (EVP) part of OpenSSL's libcrypto, for SHA-256 without carrying a
// copy of a crypto library in the package.
#pragma once
#include <openssl/evp.h>
