//
// asio_pal/impl/remote_exception.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Non-template bodies of the transport of exceptions from worker processes: capture, rebuild,
// the registry of exception types and the table of remote tracebacks.
//

#ifndef ASIO_PAL_IMPL_REMOTE_EXCEPTION_IPP
#define ASIO_PAL_IMPL_REMOTE_EXCEPTION_IPP

#include "asio_pal/detail/remote_exception.hpp"
#include "asio_pal/detail/wire.hpp"
#include "asio_pal/error.hpp"
#include "asio_pal/remote_exception.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <ios>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#if __has_include(<cxxabi.h>)
#include <cxxabi.h>
#define ASIO_PAL_DETAIL_HAS_CXXABI 1
#endif

namespace asio_pal::detail {

namespace {

// ---------------------------------------------------------------------------------------------
// Type names

// std::throw_with_nested(T) throws a library type derived from T; the layer is reported as T.
std::string strip_nested_wrapper(std::string name)
{
    for (std::string_view prefix : {"std::_Nested_exception<", "std::__1::__nested<"})
    {
        if (name.size() > prefix.size() + 1 && name.starts_with(prefix) && name.ends_with('>'))
        {
            name = name.substr(prefix.size(), name.size() - prefix.size() - 1);
            // The demangler writes "a<b<c> >": drop the space before the wrapper's '>'.
            while (!name.empty() && name.back() == ' ')
                name.pop_back();
            break;
        }
    }
    return name;
}

// The name of the type of the exception being handled, inside a catch (...) handler.
std::string current_exception_type_name()
{
#ifdef ASIO_PAL_DETAIL_HAS_CXXABI
    if (const std::type_info* type = abi::__cxa_current_exception_type())
        return strip_nested_wrapper(demangled_name(*type));
#endif
    return std::string(unknown_exception_type_name);
}

// ---------------------------------------------------------------------------------------------
// Error categories

// Stands in for a category the parent does not have, so that a rebuilt code keeps its value and
// its category's name.
template <class Category>
class foreign_category final : public Category
{
public:
    explicit foreign_category(std::string name)
        : name_(std::move(name))
    {}

    const char* name() const noexcept override { return name_.c_str(); }

    using Category::message;
    std::string message(int ev) const override
    {
        return name_ + " error " + std::to_string(ev) + " (in a worker process)";
    }

private:
    std::string name_;
};

// Category names come from other processes and their objects are never freed, so both the
// names and their number are bounded: a worker cannot grow the parent's memory for good.
constexpr std::size_t max_foreign_category_name = 256;
constexpr std::size_t max_foreign_categories = 256;
constexpr std::string_view overflow_category_name = "asio_pal.foreign_category";

// One category object per name, never destroyed: codes may refer to them until exit. Past the
// limit, every new name shares one category.
template <class Category>
const Category& foreign(const std::string& full_name)
{
    struct table
    {
        std::mutex mutex;
        std::map<std::string, std::unique_ptr<foreign_category<Category>>> categories;
    };
    static table& t = *new table;
    std::string name = full_name.substr(0, max_foreign_category_name);
    std::lock_guard lock(t.mutex);
    if (t.categories.size() >= max_foreign_categories && t.categories.count(name) == 0)
        name = overflow_category_name;
    auto& slot = t.categories[name];
    if (!slot)
        slot = std::make_unique<foreign_category<Category>>(name);
    return *slot;
}

const std::error_category& std_category(const std::string& name)
{
    for (const std::error_category* c : {&std::generic_category(), &std::system_category(),
                                         &std::iostream_category(), &std::future_category()})
    {
        if (name == c->name())
            return *c;
    }
    return foreign<std::error_category>(name);
}

const boost::system::error_category& boost_category(const std::string& name)
{
    for (const boost::system::error_category* c :
         {&boost::system::generic_category(), &boost::system::system_category(), &pal_category(),
          &boost::asio::error::get_misc_category(), &boost::asio::error::get_netdb_category(),
          &boost::asio::error::get_addrinfo_category()})
    {
        if (name == c->name())
            return *c;
    }
    return foreign<boost::system::error_category>(name);
}

std::error_code std_code(const remote_exception_layer& layer)
{
    return {static_cast<int>(layer.code), std_category(layer.category)};
}

boost::system::error_code boost_code(const remote_exception_layer& layer)
{
    return {static_cast<int>(layer.code), boost_category(layer.category)};
}

// ---------------------------------------------------------------------------------------------
// Throwing

template <class E>
[[noreturn]] void throw_as(E e, bool nested)
{
    if (nested)
        std::throw_with_nested(std::move(e));
    throw e;
}

// Gives `e` exactly the what() text `what`: the constructors of system_error-like types append
// the code's message to their argument, so the text is assigned to the base that holds it.
template <class Base, class E>
E with_what(E e, const std::string& what)
{
    static_cast<Base&>(e) = Base(what);
    return e;
}

using layer_ref = const remote_exception_layer&;

template <class E>
[[noreturn]] void throw_with_message(layer_ref l, bool nested)
{
    throw_as(E(l.message), nested);
}

// For types without a message constructor: they come back with their own what() text.
template <class E>
[[noreturn]] void throw_default(layer_ref, bool nested)
{
    throw_as(E(), nested);
}

// An asio_pal type whose code is fixed: built from an empty prefix, then given the full text.
template <class E>
[[noreturn]] void throw_pal(layer_ref l, bool nested)
{
    throw_as(with_what<std::runtime_error>(E(""), l.message), nested);
}

[[noreturn]] void throw_system_error(layer_ref l, bool nested)
{
    throw_as(with_what<std::runtime_error>(std::system_error(std_code(l)), l.message), nested);
}

[[noreturn]] void throw_ios_failure(layer_ref l, bool nested)
{
    throw_as(with_what<std::runtime_error>(std::ios_base::failure("", std_code(l)), l.message),
             nested);
}

[[noreturn]] void throw_future_error(layer_ref l, bool nested)
{
    // Only the future_errc constructor is public; the category is always "future".
    // Through int: an out-of-range 64-bit value converted to the enumeration is undefined.
    std::future_error e(static_cast<std::future_errc>(static_cast<int>(l.code)));
    throw_as(with_what<std::logic_error>(std::move(e), l.message), nested);
}

[[noreturn]] void throw_boost_system_error(layer_ref l, bool nested)
{
    throw_as(with_what<std::runtime_error>(boost::system::system_error(boost_code(l)), l.message),
             nested);
}

[[noreturn]] void throw_pal_error(layer_ref l, bool nested)
{
    throw_as(with_what<std::runtime_error>(error(boost_code(l), ""), l.message), nested);
}

[[noreturn]] void throw_broken_pool_error(layer_ref l, bool nested)
{
    throw_as(with_what<std::runtime_error>(broken_pool_error("", boost_code(l)), l.message),
             nested);
}

// With the pid, signal and exit status of the deeper worker that died (in `details`).
[[noreturn]] void throw_worker_died_error(layer_ref l, bool nested)
{
    auto detail = [&](std::size_t i, std::int64_t otherwise) {
        return i < l.details.size() ? l.details[i] : otherwise;
    };
    worker_died_error e("", detail(0, 0), static_cast<int>(detail(1, 0)),
                        static_cast<int>(detail(2, -1)));
    throw_as(with_what<std::runtime_error>(std::move(e), l.message), nested);
}

[[noreturn]] void throw_remote_error(layer_ref l, bool nested)
{
    throw_as(remote_error(l.type_name, l.message), nested);
}

// ---------------------------------------------------------------------------------------------
// Types rebuilt as themselves without registration

struct builtin_type
{
    std::string name;
    remote_exception_kind kind;
    exception_thrower thrower;
};

template <class E>
builtin_type standard(exception_thrower thrower)
{
    return builtin_type{demangled_name<E>(), remote_exception_kind::standard, thrower};
}

template <class E>
builtin_type library(exception_thrower thrower)
{
    return builtin_type{demangled_name<E>(), remote_exception_kind::library, thrower};
}

const std::vector<builtin_type>& builtin_types()
{
    // Never destroyed: a task may fail while the worker exits.
    static const std::vector<builtin_type>& types = *new std::vector<builtin_type>{
        standard<std::exception>(&throw_default<std::exception>),
        standard<std::runtime_error>(&throw_with_message<std::runtime_error>),
        standard<std::logic_error>(&throw_with_message<std::logic_error>),
        standard<std::invalid_argument>(&throw_with_message<std::invalid_argument>),
        standard<std::domain_error>(&throw_with_message<std::domain_error>),
        standard<std::length_error>(&throw_with_message<std::length_error>),
        standard<std::out_of_range>(&throw_with_message<std::out_of_range>),
        standard<std::range_error>(&throw_with_message<std::range_error>),
        standard<std::overflow_error>(&throw_with_message<std::overflow_error>),
        standard<std::underflow_error>(&throw_with_message<std::underflow_error>),
        standard<std::bad_alloc>(&throw_default<std::bad_alloc>),
        standard<std::bad_array_new_length>(&throw_default<std::bad_array_new_length>),
        standard<std::bad_cast>(&throw_default<std::bad_cast>),
        standard<std::bad_typeid>(&throw_default<std::bad_typeid>),
        standard<std::bad_exception>(&throw_default<std::bad_exception>),
        standard<std::bad_weak_ptr>(&throw_default<std::bad_weak_ptr>),
        standard<std::bad_function_call>(&throw_default<std::bad_function_call>),
        standard<std::bad_optional_access>(&throw_default<std::bad_optional_access>),
        standard<std::bad_variant_access>(&throw_default<std::bad_variant_access>),
        standard<std::system_error>(&throw_system_error),
        standard<std::ios_base::failure>(&throw_ios_failure),
        standard<std::future_error>(&throw_future_error),
        library<boost::system::system_error>(&throw_boost_system_error),
        library<error>(&throw_pal_error),
        library<broken_pool_error>(&throw_broken_pool_error),
        library<worker_died_error>(&throw_worker_died_error),
        library<pool_closed_error>(&throw_pal<pool_closed_error>),
        library<initializer_error>(&throw_pal<initializer_error>),
        library<finalizer_error>(&throw_pal<finalizer_error>),
        library<cancelled_error>(&throw_pal<cancelled_error>),
        library<timeout_error>(&throw_pal<timeout_error>),
        library<unregistered_task_error>(&throw_pal<unregistered_task_error>),
        library<protocol_error>(&throw_pal<protocol_error>),
    };
    return types;
}

const builtin_type* find_builtin(const std::string& name)
{
    for (const builtin_type& b : builtin_types())
    {
        if (b.name == name)
            return &b;
    }
    return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Registered types

class exception_registry
{
public:
    static exception_registry& instance()
    {
        // Never destroyed: registrations happen during static initialization of any translation
        // unit, and lookups may happen during static destruction.
        static exception_registry& r = *new exception_registry;
        return r;
    }

    bool add(const std::type_info& type, std::string name, exception_thrower thrower)
    {
        if (name.empty())
            return false;
        std::string type_key = demangled_name(type);
        std::lock_guard lock(mutex_);
        if (auto it = by_name_.find(name); it != by_name_.end())
            return *it->second.type == type;
        if (by_type_.count(type_key) != 0)
            return false;
        by_type_.emplace(std::move(type_key), name);
        by_name_.emplace(std::move(name), entry{&type, thrower});
        return true;
    }

    // The registered name of the type whose demangled name is `type_key`.
    std::optional<std::string> name_of(const std::string& type_key) const
    {
        std::lock_guard lock(mutex_);
        if (auto it = by_type_.find(type_key); it != by_type_.end())
            return it->second;
        return std::nullopt;
    }

    exception_thrower thrower_of(const std::string& name) const
    {
        std::lock_guard lock(mutex_);
        if (auto it = by_name_.find(name); it != by_name_.end())
            return it->second.thrower;
        return nullptr;
    }

private:
    struct entry
    {
        const std::type_info* type;
        exception_thrower thrower;
    };

    mutable std::mutex mutex_;
    std::unordered_map<std::string, entry> by_name_;       // registered name -> type
    std::unordered_map<std::string, std::string> by_type_; // demangled name -> registered name
};

// ---------------------------------------------------------------------------------------------
// Remote tracebacks

// The most derived object of the std::exception `e` holds, and the length of its what() text;
// a null address for anything else. libstdc++ rethrows the held object itself, so this is the
// object user code catches.
struct held_exception
{
    const void* address = nullptr;
    std::size_t what_size = 0;
};

held_exception exception_object(const std::exception_ptr& e)
{
    if (!e)
        return {};
    try
    {
        std::rethrow_exception(e);
    }
    catch (const std::exception& x)
    {
        return {dynamic_cast<const void*>(&x), std::strlen(x.what())};
    }
    catch (...)
    {}
    return {};
}

// The most recent entries, oldest first, with an index by address. Bounded by count and by the
// bytes of the texts and of the messages of the exceptions it keeps alive: tracebacks of large
// failures would otherwise keep hundreds of megabytes after the program dropped them.
class traceback_table
{
public:
    static traceback_table& instance()
    {
        // Never destroyed: the exceptions it keeps may be in use until exit.
        static traceback_table& t = *new traceback_table;
        return t;
    }

    void attach(const std::exception_ptr& e, std::shared_ptr<const std::string> text)
    {
        const held_exception held = exception_object(e);
        if (!held.address)
            return;
        std::vector<std::exception_ptr> evicted; // released after unlocking: destructors may run
        {
            std::lock_guard lock(mutex_);
            if (auto it = index_.find(held.address); it != index_.end())
            {
                // The same object again: only its text changes.
                release_text(it->second->text);
                it->second->text = std::move(text);
                hold_text(it->second->text);
            }
            else
            {
                entries_.push_back(entry{held.address, e, std::move(text), held.what_size});
                auto added = std::prev(entries_.end());
                index_.emplace(held.address, added);
                bytes_ += added->what_size;
                hold_text(added->text);
            }
            // The oldest go first; the newest stays, even alone over the limit.
            while (entries_.size() > 1 && (entries_.size() > remote_traceback_capacity ||
                                           bytes_ > remote_traceback_byte_capacity))
            {
                entry& oldest = entries_.front();
                index_.erase(oldest.address);
                bytes_ -= oldest.what_size;
                release_text(oldest.text);
                evicted.push_back(std::move(oldest.owner));
                entries_.pop_front();
            }
        }
    }

    std::string find(const std::exception& e) const
    {
        const void* address = dynamic_cast<const void*>(&e);
        std::shared_ptr<const std::string> text;
        {
            std::lock_guard lock(mutex_);
            if (auto it = index_.find(address); it != index_.end())
                text = it->second->text;
        }
        return text ? *text : std::string();
    }

    std::size_t size() const
    {
        std::lock_guard lock(mutex_);
        return index_.size();
    }

    std::size_t bytes() const
    {
        std::lock_guard lock(mutex_);
        return bytes_;
    }

private:
    struct entry
    {
        const void* address = nullptr;
        std::exception_ptr owner; // keeps the address from being reused
        std::shared_ptr<const std::string> text;
        std::size_t what_size = 0;
    };

    // A text shared by several entries (the layers of one chain) is counted once.
    void hold_text(const std::shared_ptr<const std::string>& text)
    {
        if (text && text_users_[text.get()]++ == 0)
            bytes_ += text->size();
    }

    void release_text(const std::shared_ptr<const std::string>& text)
    {
        if (!text)
            return;
        auto it = text_users_.find(text.get());
        if (--it->second == 0)
        {
            bytes_ -= text->size();
            text_users_.erase(it);
        }
    }

    mutable std::mutex mutex_;
    std::list<entry> entries_; // oldest first
    std::unordered_map<const void*, std::list<entry>::iterator> index_;
    std::unordered_map<const std::string*, std::size_t> text_users_;
    std::size_t bytes_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Capture

// The message given to a remote_error, recovered from its what() text.
std::string remote_error_message(const remote_error& r)
{
    const std::string what = r.what();
    const std::string prefix = r.type_name() + ": ";
    const std::string suffix =
        std::string(remote_error(r.type_name(), "").what()).substr(prefix.size());
    if (what.size() >= prefix.size() + suffix.size() && what.starts_with(prefix) &&
        what.ends_with(suffix))
        return what.substr(prefix.size(), what.size() - prefix.size() - suffix.size());
    return what;
}

struct captured_layer
{
    remote_exception_layer layer;
    std::string display_type; // the type shown in the traceback
    std::string what;
    std::string deeper_traceback; // when this exception was itself rebuilt from a worker
};

captured_layer describe(const std::exception& x)
{
    captured_layer c;
    remote_exception_layer& l = c.layer;
    const std::string type_key = strip_nested_wrapper(demangled_name(typeid(x)));
    c.display_type = type_key;
    c.what = x.what();
    c.deeper_traceback = traceback_table::instance().find(x);
    l.type_name = type_key;
    l.message = c.what;

    if (const auto* s = dynamic_cast<const std::system_error*>(&x))
    {
        l.code = s->code().value();
        l.category = s->code().category().name();
    }
    else if (const auto* f = dynamic_cast<const std::future_error*>(&x))
    {
        l.code = f->code().value();
        l.category = f->code().category().name();
    }
    else if (const auto* b = dynamic_cast<const boost::system::system_error*>(&x))
    {
        l.code = b->code().value();
        l.category = b->code().category().name();
    }
    if (const auto* d = dynamic_cast<const worker_died_error*>(&x))
        l.details = {d->pid(), d->signal(), d->exit_status()};

    const auto* r = dynamic_cast<const remote_error*>(&x);
    if (r && type_key == demangled_name<remote_error>())
    {
        l.kind = static_cast<std::uint32_t>(remote_exception_kind::relayed);
        l.type_name = r->type_name();
        l.message = remote_error_message(*r);
    }
    else if (const builtin_type* b = find_builtin(type_key))
    {
        l.kind = static_cast<std::uint32_t>(b->kind);
    }
    else if (auto name = exception_registry::instance().name_of(type_key))
    {
        l.kind = static_cast<std::uint32_t>(remote_exception_kind::registered);
        l.type_name = std::move(*name);
        c.display_type = l.type_name;
    }
    else
    {
        l.kind = static_cast<std::uint32_t>(remote_exception_kind::unknown);
    }
    return c;
}

captured_layer describe_foreign(std::string type_name)
{
    captured_layer c;
    c.display_type = type_name;
    c.what = "the thrown object does not derive from std::exception; no message is available";
    c.layer.type_name = std::move(type_name);
    c.layer.message = c.what;
    c.layer.kind = static_cast<std::uint32_t>(remote_exception_kind::unknown);
    return c;
}

// Appends `text`, indenting the lines after the first by `indent`.
void append_indented(std::string& out, std::string_view text, std::string_view indent)
{
    for (std::size_t start = 0;;)
    {
        std::size_t end = text.find('\n', start);
        out.append(text.substr(start, end - start));
        if (end == std::string_view::npos || end + 1 == text.size())
            return;
        out += '\n';
        out.append(indent);
        start = end + 1;
    }
}

std::string format_traceback(const std::vector<captured_layer>& layers, std::string_view task_name,
                             std::int64_t pid, bool truncated)
{
    std::string out = "task '";
    out.append(task_name);
    out += "' in worker process " + std::to_string(pid) + " failed:\n";
    const std::string* last_deeper = nullptr;
    for (std::size_t i = 0; i < layers.size(); ++i)
    {
        const captured_layer& c = layers[i];
        out += i == 0 ? "  " : "  caused by ";
        out += c.display_type + ": ";
        append_indented(out, c.what, "    ");
        out += '\n';
        // A failure passed on from a deeper worker: its account, once.
        if (!c.deeper_traceback.empty() && (!last_deeper || *last_deeper != c.deeper_traceback))
        {
            out += "    ";
            append_indented(out, c.deeper_traceback, "    ");
            out += '\n';
            last_deeper = &c.deeper_traceback;
        }
    }
    if (truncated)
    {
        out += "  (the chain goes on; only the first " +
               std::to_string(max_remote_exception_layers) + " exceptions are shown)\n";
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Rebuild

exception_thrower thrower_for(const remote_exception_layer& layer)
{
    switch (static_cast<remote_exception_kind>(layer.kind))
    {
    case remote_exception_kind::standard:
    case remote_exception_kind::library:
        if (const builtin_type* b = find_builtin(layer.type_name))
            return b->thrower;
        break;
    case remote_exception_kind::registered:
        if (exception_thrower t = exception_registry::instance().thrower_of(layer.type_name))
            return t;
        break;
    case remote_exception_kind::unknown:
    case remote_exception_kind::relayed:
        break;
    }
    return &throw_remote_error;
}

std::exception_ptr build_layer(const remote_exception_layer& layer, const std::exception_ptr& inner)
{
    const exception_thrower thrower = thrower_for(layer);
    try
    {
        if (!inner)
            thrower(layer, false);
        try
        {
            std::rethrow_exception(inner);
        }
        catch (...)
        {
            thrower(layer, true);
        }
    }
    catch (...)
    {
        return std::current_exception();
    }
    // Throwers always throw; this is for one that would not.
    return std::make_exception_ptr(remote_error(layer.type_name, layer.message));
}

} // namespace

std::string demangle(const char* mangled)
{
#ifdef ASIO_PAL_DETAIL_HAS_CXXABI
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> name(
        abi::__cxa_demangle(mangled, nullptr, nullptr, &status), &std::free);
    if (status == 0 && name)
        return name.get();
#endif
    return mangled;
}

std::string demangled_name(const std::type_info& type)
{
    return demangle(type.name());
}

bool add_exception_type(const std::type_info& type, std::string name, exception_thrower thrower)
{
    return exception_registry::instance().add(type, std::move(name), thrower);
}

remote_exception_info capture_exception(std::exception_ptr e, std::string_view task_name,
                                        std::int64_t pid)
{
    std::vector<captured_layer> layers;
    bool truncated = false;
    if (!e)
        layers.push_back(describe_foreign(std::string(unknown_exception_type_name)));
    while (e)
    {
        if (layers.size() == max_remote_exception_layers)
        {
            truncated = true;
            break;
        }
        std::exception_ptr next;
        try
        {
            std::rethrow_exception(e);
        }
        catch (const std::exception& x)
        {
            layers.push_back(describe(x));
            if (const auto* n = dynamic_cast<const std::nested_exception*>(&x))
                next = n->nested_ptr();
        }
        catch (const std::nested_exception& n)
        {
            // std::throw_with_nested around a type not derived from std::exception.
            layers.push_back(describe_foreign(current_exception_type_name()));
            next = n.nested_ptr();
        }
        catch (...)
        {
            layers.push_back(describe_foreign(current_exception_type_name()));
        }
        e = std::move(next);
    }

    remote_exception_info info;
    info.traceback = format_traceback(layers, task_name, pid, truncated);
    info.chain.reserve(layers.size());
    for (captured_layer& c : layers)
        info.chain.push_back(std::move(c.layer));
    return info;
}

void check_remote_chain_length(std::uint64_t layers)
{
    if (layers > max_remote_exception_layers)
        throw decode_error("asio_pal: an exception chain of " + std::to_string(layers) +
                           " layers exceeds the limit of " +
                           std::to_string(max_remote_exception_layers) + " layers");
}

std::exception_ptr rebuild_exception(const remote_exception_info& info)
{
    check_remote_chain_length(info.chain.size());
    std::vector<std::exception_ptr> built; // innermost first
    if (info.chain.empty())
    {
        built.push_back(std::make_exception_ptr(
            remote_error(std::string(unknown_exception_type_name),
                         "the worker process reported a failure without describing it")));
    }
    built.reserve(info.chain.size());
    for (auto it = info.chain.rbegin(); it != info.chain.rend(); ++it)
        built.push_back(build_layer(*it, built.empty() ? std::exception_ptr() : built.back()));
    if (!info.traceback.empty())
    {
        // The outermost is attached last, so it is the last to be evicted.
        auto text = std::make_shared<const std::string>(info.traceback);
        for (const std::exception_ptr& p : built)
            traceback_table::instance().attach(p, text);
    }
    return built.back();
}

void attach_remote_traceback(const std::exception_ptr& e, std::string traceback)
{
    traceback_table::instance().attach(e,
                                       std::make_shared<const std::string>(std::move(traceback)));
}

std::string find_remote_traceback(const std::exception& e)
{
    return traceback_table::instance().find(e);
}

std::size_t remote_traceback_count()
{
    return traceback_table::instance().size();
}

std::size_t remote_traceback_bytes()
{
    return traceback_table::instance().bytes();
}

} // namespace asio_pal::detail

namespace asio_pal {

std::string get_remote_traceback(const std::exception& e)
{
    return detail::find_remote_traceback(e);
}

} // namespace asio_pal

#endif // ASIO_PAL_IMPL_REMOTE_EXCEPTION_IPP
