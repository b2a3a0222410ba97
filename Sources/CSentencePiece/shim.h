// CSentencePiece: links libsentencepiece. Its API is C++ only, so Swift reaches it through the
// extern "C" functions of CSentencePieceShim; this module only carries the link and include flags.
#pragma once
