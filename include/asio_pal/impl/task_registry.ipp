//
// asio_pal/impl/task_registry.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The registry of process-pool functions, and naming a function from its address (for the
// error that says which function is not registered).
//

#ifndef ASIO_PAL_IMPL_TASK_REGISTRY_IPP
#define ASIO_PAL_IMPL_TASK_REGISTRY_IPP

#include "asio_pal/detail/remote_exception.hpp"
#include "asio_pal/detail/task_registry.hpp"
#include "asio_pal/error.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include <dlfcn.h>
#include <elf.h>

namespace asio_pal::detail {

namespace {

struct registry
{
    std::mutex mutex;
    std::unordered_map<std::string, task_entry> by_name; // node-based: entries never move
    std::unordered_map<function_key, const task_entry*> by_key;
    std::unordered_set<std::string> conflicts;
};

// Never destroyed: pools and tasks may refer to entries until the very end of the program.
registry& the_registry()
{
    static registry* r = new registry;
    return *r;
}

// The symbol at `offset` in the ELF file `path` (its .symtab, which dladdr does not read: only
// exported symbols are in the dynamic table). Empty when the file is stripped or unreadable.
std::string elf_symbol_at(const char* path, std::uint64_t offset, std::uint64_t absolute)
{
    std::ifstream in(path, std::ios::binary);
    Elf64_Ehdr eh{};
    if (!in.read(reinterpret_cast<char*>(&eh), sizeof eh) ||
        std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_shentsize != sizeof(Elf64_Shdr))
        return {};
    std::vector<Elf64_Shdr> sections(eh.e_shnum);
    in.seekg(static_cast<std::streamoff>(eh.e_shoff));
    if (!in.read(reinterpret_cast<char*>(sections.data()),
                 static_cast<std::streamsize>(sections.size() * sizeof(Elf64_Shdr))))
        return {};
    std::uint64_t wanted = eh.e_type == ET_DYN ? offset : absolute;
    for (const Elf64_Shdr& sh : sections)
    {
        if (sh.sh_type != SHT_SYMTAB || sh.sh_link >= sections.size() ||
            sh.sh_entsize != sizeof(Elf64_Sym))
            continue;
        const Elf64_Shdr& strtab = sections[sh.sh_link];
        std::vector<Elf64_Sym> syms(sh.sh_size / sizeof(Elf64_Sym));
        in.seekg(static_cast<std::streamoff>(sh.sh_offset));
        if (!in.read(reinterpret_cast<char*>(syms.data()),
                     static_cast<std::streamsize>(syms.size() * sizeof(Elf64_Sym))))
            return {};
        for (const Elf64_Sym& s : syms)
        {
            if (ELF64_ST_TYPE(s.st_info) != STT_FUNC || s.st_value != wanted ||
                s.st_name >= strtab.sh_size)
                continue;
            std::string name(256, '\0');
            in.seekg(static_cast<std::streamoff>(strtab.sh_offset + s.st_name));
            in.read(name.data(), static_cast<std::streamsize>(name.size()));
            name.resize(std::strlen(name.c_str()));
            return demangle(name.c_str());
        }
    }
    return {};
}

} // namespace

std::string describe_function(function_key key)
{
    auto addr = reinterpret_cast<std::uintptr_t>(key);
    Dl_info info{};
    if (::dladdr(reinterpret_cast<void*>(addr), &info) != 0)
    {
        if (info.dli_sname && info.dli_saddr == reinterpret_cast<void*>(addr))
            return demangle(info.dli_sname);
        if (info.dli_fname)
        {
            std::string found =
                elf_symbol_at(info.dli_fname, addr - reinterpret_cast<std::uintptr_t>(info.dli_fbase),
                              addr);
            if (found.empty() && std::strchr(info.dli_fname, '/') == nullptr)
                found = elf_symbol_at("/proc/self/exe",
                                      addr - reinterpret_cast<std::uintptr_t>(info.dli_fbase), addr);
            if (!found.empty())
                return found;
        }
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%#zx", static_cast<std::size_t>(addr));
    return std::string("the function at ") + buf;
}

void register_task_entry(task_entry e) noexcept
{
    registry& r = the_registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    try
    {
        auto [it, inserted] = r.by_name.try_emplace(e.name, e);
        if (!inserted && it->second.key != e.key)
            r.conflicts.insert(e.name);
        r.by_key.try_emplace(e.key, &it->second);
    }
    catch (...)
    {
        // Out of memory during static initialisation: the function stays unregistered and
        // using it reports so.
    }
}

const task_entry* find_task(function_key key) noexcept
{
    registry& r = the_registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.by_key.find(key);
    return it == r.by_key.end() ? nullptr : it->second;
}

std::vector<std::string> registered_task_names()
{
    registry& r = the_registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    std::vector<std::string> names;
    names.reserve(r.by_name.size());
    for (const auto& [name, entry] : r.by_name)
        names.push_back(name);
    return names;
}

const task_entry* find_task(std::string_view name)
{
    registry& r = the_registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    std::string key(name);
    if (r.conflicts.count(key) != 0)
        throw unregistered_task_error("asio_pal: the task name '" + key +
                                      "' is registered for two different functions");
    auto it = r.by_name.find(key);
    return it == r.by_name.end() ? nullptr : &it->second;
}

const task_entry& require_task(function_key key, std::string_view what)
{
    const task_entry* e = find_task(key);
    if (!e)
        throw unregistered_task_error(
            "asio_pal: " + std::string(what) + ": " + describe_function(key) +
            " is not registered for process pools; add ASIO_PAL_REGISTER_TASK(name) at "
            "namespace scope (lambdas and closures cannot cross a process boundary)");
    // A name claimed by two functions is refused here too, not only in the worker.
    (void)find_task(std::string_view(e->name));
    return *e;
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_IMPL_TASK_REGISTRY_IPP
