// The C skeleton from C++: bpftool's skeletons give C++ users static member functions
// (X::open_and_load(), X::destroy()...). SKEL is the skeleton's struct name, SKEL_HEADER its file,
// SHARED_HEADER the types its global data names (as upstream tools' X.h).
#include <cstdio>
#include <sys/types.h>
#include <linux/types.h>
#ifdef SHARED_HEADER
#include SHARED_HEADER
#endif
#include SKEL_HEADER

int main()
{
	SKEL *skel = SKEL::open_and_load();

	if (!skel) {
		std::perror("open_and_load");
		return 1;
	}
	if (SKEL::attach(skel)) {
		std::perror("attach");
		SKEL::destroy(skel);
		return 1;
	}
	SKEL::destroy(skel);
	std::printf("ok\n");
	return 0;
}
