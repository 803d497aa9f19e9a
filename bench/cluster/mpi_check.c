// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)

/* What bench/cluster/mpirun_check.sh asks of Open MPI's mpirun, one rank's side.
 *
 *   mpi_check            every rank reports, an allreduce sums the ranks, all finalize
 *   mpi_check HOLD_MS [finalize]
 *                        the same, then every rank sleeps HOLD_MS outside MPI (the script kills
 *                        the last rank meanwhile), then ranks 0 and 1 exchange a message, rank 0
 *                        sends to the last rank and posts a receive from it (bounded wait); then
 *                        the survivors leave, through MPI_Finalize with "finalize"
 *
 * Each step prints a line "rank R: ..." (flushed) so that the script can tell how far each
 * rank got; rank pids come first, so that the script knows whom to kill. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void say(int rank, const char* what)
{
    printf("rank %d: %s\n", rank, what);
    fflush(stdout);
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0)
    {}
}

int main(int argc, char** argv)
{
    long hold_ms = argc > 1 ? atol(argv[1]) : 0;
    int finalize = argc > 2;
    int rank = 0, size = 0;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    printf("rank %d: pid %ld of %d on %s\n", rank, (long)getpid(), size, host);
    fflush(stdout);

    int sum = 0;
    MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    printf("rank %d: allreduce %d (expected %d)\n", rank, sum, size * (size - 1) / 2);
    fflush(stdout);

    if (hold_ms > 0 && size >= 3)
    {
        say(rank, "holding");
        sleep_ms(hold_ms);
        say(rank, "held");
        int last = size - 1, token = 42, got = 0;
        if (rank == 0)
        {
            MPI_Send(&token, 1, MPI_INT, 1, 0, MPI_COMM_WORLD);
            MPI_Recv(&got, 1, MPI_INT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            say(rank, got == token ? "exchange with rank 1 done" : "exchange with rank 1 WRONG");
            int rc = MPI_Send(&token, 1, MPI_INT, last, 1, MPI_COMM_WORLD);
            printf("rank %d: send to rank %d (the last) returned %d (MPI_SUCCESS %d)\n", rank, last,
                   rc, MPI_SUCCESS);
            fflush(stdout);
            MPI_Request request;
            MPI_Irecv(&got, 1, MPI_INT, last, 2, MPI_COMM_WORLD, &request);
            int done = 0;
            for (int i = 0; i < 200 && !done; ++i)
            {
                MPI_Test(&request, &done, MPI_STATUS_IGNORE);
                sleep_ms(10);
            }
            printf("rank %d: receive from rank %d (the last) %s after 2 s\n", rank, last,
                   done ? "completed" : "still pending");
            fflush(stdout);
            if (!done)
            {
                MPI_Cancel(&request);
            }
        }
        else if (rank == 1)
        {
            MPI_Recv(&got, 1, MPI_INT, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(&got, 1, MPI_INT, 0, 0, MPI_COMM_WORLD);
            say(rank, "exchange with rank 0 done");
        }
        if (!finalize)
        {
            say(rank, "exiting without MPI_Finalize");
            return 0;
        }
        say(rank, "calling MPI_Finalize");
    }
    MPI_Finalize();
    say(rank, "finalized");
    return 0;
}
