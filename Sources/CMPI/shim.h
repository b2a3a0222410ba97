// CMPI: Open MPI for Swift. MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE and the other handles
// below are macros over addresses of library globals (or enum constants Swift imports with an
// awkward type), which Swift cannot import as they are; these one-line functions return them.
#pragma once
#include <mpi.h>

static inline MPI_Comm cmpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype cmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cmpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Op cmpi_sum(void) { return MPI_SUM; }
static inline MPI_Op cmpi_max(void) { return MPI_MAX; }
static inline void *cmpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler cmpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Info cmpi_info_null(void) { return MPI_INFO_NULL; }
static inline int cmpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline int cmpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int cmpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
