/* Empty: SwiftPM needs one source file for a C target. Everything is in include/csystem.h. */
#include "csystem.h"
