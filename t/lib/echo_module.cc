// SPDX-License-Identifier: ISC
// A session-handler module in C++ for t/095: the public headers from C++
// (std::atomic for their C11 atomics, extern "C" linkage); echoes.
#include <npsocket/handler.h>
#include <string>

static int echo_session(void *, struct np_session *session)
{
	struct np_comm *comm = np_session_comm(session);
	struct np_transaction t;
	std::string peer = np_session_peer(session);
	while (np_comm_read_transaction(comm, &t) == 0) {
		std::string answer(reinterpret_cast<const char *>(t.payload), t.length);
		if (np_comm_write_transaction(comm, answer.data(), answer.size()) < 0)
			return -1;
	}
	return comm->error == NP_COMM_CLOSED && !peer.empty() ? 0 : -1;
}

extern "C" const struct np_handler np_handler_descriptor = {
	.abi_version = NP_HANDLER_ABI_VERSION,
	.flags = 0,
	.name = "echo-c++",
	.init = nullptr,
	.shutdown = nullptr,
	.on_client_connect = echo_session,
	.on_remote_application_connect = echo_session,
	.on_unknown_connect = nullptr,
};
