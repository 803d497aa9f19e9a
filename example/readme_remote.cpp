//
// example/readme_remote.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The README's "Across machines" block, in a program that runs: by default its workers start on
// this machine and connect back over TCP, through the same machinery as ssh or Slurm workers.
// `readme_remote --cluster` runs the README's Slurm and ssh pools (inside a Slurm allocation,
// with hosts node1 and node2 reachable by ssh). test/readme_blocks.py checks that the README
// quotes the region below byte for byte.
//

#include <asio_pal.hpp>

#include <cstdlib>
#include <iostream>
#include <string_view>
#include <vector>

namespace pal = asio_pal;

int simulate(int param)
{
    return param * param;
}
ASIO_PAL_REGISTER_TASK(simulate);

long total = 0;

void use(int r)
{
    total += r;
}

void on_a_cluster(const std::vector<int>& params)
{
    // [readme-remote]
    // inside `salloc -N 4 -n 64`, or an sbatch script
    pal::process_pool pool(pal::process_pool_options{
        .launcher = pal::slurm_launcher{}, // one job step per worker; max_workers: $SLURM_NTASKS
    });
    for (int r : pool.map(simulate, params, pal::map_options{.chunk_size = 16}))
        use(r);

    // any other way to start a program on a host: ssh over a host list
    pal::process_pool over_ssh(pal::process_pool_options{
        .max_workers = 8,
        .launcher =
            pal::command_launcher{
                .command = {"ssh", "{host}", "{exe} {args}"},
                .hosts = {"node1", "node2"},
                .remote = {.listen_address = "10.0.0.5"}, // this machine, as the nodes reach it
            },
    });
    // [/readme-remote]
    for (int r : over_ssh.map(simulate, params))
        use(r);
}

int main(int argc, char** argv)
{
    if (pal::is_worker_process(argc, argv))
        return pal::run_worker(argc, argv);

    std::vector<int> params;
    for (int i = 1; i <= 100; ++i)
        params.push_back(i);

    if (argc > 1 && std::string_view(argv[1]) == "--cluster")
    {
        on_a_cluster(params);
        std::cout << "total: " << total << "\n";
        return EXIT_SUCCESS;
    }

    // [readme-remote-local]
    // this machine over TCP: command_launcher's default command is {"{exe}", "{args}"}
    pal::process_pool over_tcp(pal::process_pool_options{
        .max_workers = 2, .launcher = pal::command_launcher{}, // listens on 127.0.0.1
    });
    // [/readme-remote-local]
    for (int r : over_tcp.map(simulate, params, pal::map_options{.chunk_size = 16}))
        use(r);
    std::cout << "total: " << total << "\n";
    return total == 338350 ? EXIT_SUCCESS : EXIT_FAILURE;
}
